#pragma once
// Each subcommand registers itself on the app; main() dispatches and turns errors into exit codes.
#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "xlstm/model.h"
#include "xlstm/tokenizer.h"

namespace xlstm::cli {

void add_info(CLI::App& app);
void add_logits(CLI::App& app);
void add_generate(CLI::App& app);
void add_bench(CLI::App& app);
void add_tokenize(CLI::App& app);
void add_detokenize(CLI::App& app);
void add_perplexity(CLI::App& app);
void add_serve(CLI::App& app);

// The tokenizer.json of a model directory; throws naming the path if absent.
Tokenizer load_model_tokenizer(const std::string& model_dir);

// -p TEXT | -f FILE (| --ids 1,2,3): the prompt of generate, logits, tokenize.
struct PromptSource {
  std::string text_arg, file, ids;
  void add_to(CLI::App* sub, bool allow_ids);
  bool has_ids() const { return !ids.empty(); }
  std::string text() const;  // -p or the contents of -f
  // Token ids: --ids as given, or the text encoded with the tokenizer (post-processor applied).
  std::vector<int32_t> tokens(const Tokenizer* tokenizer) const;
};

// "1,2,3" -> ids; throws InvalidInput naming the flag on a bad entry.
std::vector<int32_t> parse_ids(const std::string& text, const std::string& flag);
// --weights auto|f32|bf16 as a load option.
LoadOptions::WeightDType parse_weight_type(const std::string& name);
// --weights, --device and --threads: how a subcommand loads and runs its model.
struct RuntimeOptions {
  std::string weights = "auto", device = "cpu";
  int threads = 0;
  bool no_weight_check = false;
  void add_to(CLI::App* sub);
  LoadOptions load_options() const;
  // Applies --threads (0 = all cores).
  void apply_threads() const;
};

// Model::load with these options; the config's warnings (unknown keys, alias conflicts) to
// stderr.
Model load_model(const std::string& model_dir, const RuntimeOptions& runtime);
// load_config, its warnings to stderr.
LoadedConfig load_config_warning(const std::string& config_file);
// The model of -m DIR, or random weights of --config FILE's shape (benchmarks): bf16 if asked,
// and on CUDA unless f32 is asked, as a loaded model. `command` names the caller in the error
// when neither is given.
Model model_or_random(const std::string& model_dir, const std::string& config_file,
                      const RuntimeOptions& runtime, const std::string& command);

}  // namespace xlstm::cli
