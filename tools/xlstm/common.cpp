#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "commands.h"
#include "core/regular_file.h"
#include "xlstm/error.h"
#include "xlstm/threads.h"

namespace xlstm::cli {

std::vector<int32_t> parse_ids(const std::string& text, const std::string& flag) {
  std::vector<int32_t> ids;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find(',', pos);
    if (end == std::string::npos) end = text.size();
    const std::string item = text.substr(pos, end - pos);
    int32_t v = 0;
    auto [p, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    if (item.empty() || ec != std::errc() || p != item.data() + item.size() || v < 0) {
      throw InvalidInput(
          tagged("cli", flag + ": '" + item + "' is not a non-negative integer token id"));
    }
    ids.push_back(v);
    pos = end + 1;
  }
  return ids;
}

LoadOptions::WeightDType parse_weight_type(const std::string& name) {
  if (name == "auto") return LoadOptions::WeightDType::Auto;
  if (name == "f32") return LoadOptions::WeightDType::F32;
  if (name == "bf16") return LoadOptions::WeightDType::BF16;
  throw InvalidInput(tagged("cli", "--weights: '" + name + "' is not one of auto, f32, bf16"));
}

void RuntimeOptions::add_to(CLI::App* sub) {
  sub->add_option("--weights", weights, "In-memory weight type: auto (as stored), f32, bf16")
      ->check(CLI::IsMember({"auto", "f32", "bf16"}));
  sub->add_option("--device", device,
                  "Where to run: cpu, or cuda (weights bf16 unless --weights f32)")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  sub->add_option("-t,--threads", threads, "CPU threads (0 = all; more than the cores: capped)")
      ->check(CLI::Range(0, 1 << 16));
  sub->add_flag("--no-weight-check", no_weight_check,
                "Skip the NaN/Inf scan of the weights at load");
}

LoadOptions RuntimeOptions::load_options() const {
  LoadOptions lo;
  lo.weight_type = parse_weight_type(weights);
  lo.device = parse_device(device);
  lo.check_weights = !no_weight_check;
  return lo;
}

void RuntimeOptions::apply_threads() const {
  // More threads than the machine has only oversubscribe the cores (ten times slower measured).
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (threads > cores) {
    std::cerr << "warning: --threads " << threads << " is more than the " << cores
              << " hardware threads; using " << cores << "\n";
    set_num_threads(cores);
    return;
  }
  set_num_threads(threads);
}

Model load_model(const std::string& model_dir, const RuntimeOptions& runtime) {
  std::vector<std::string> warnings;
  LoadOptions lo = runtime.load_options();
  lo.warnings = &warnings;
  Model model = Model::load(model_dir, lo);
  for (const auto& w : warnings) std::cerr << "warning: " << w << "\n";
  return model;
}

LoadedConfig load_config_warning(const std::string& config_file) {
  LoadedConfig loaded = load_config(config_file);
  for (const auto& w : loaded.warnings) std::cerr << "warning: " << w << "\n";
  return loaded;
}

Model model_or_random(const std::string& model_dir, const std::string& config_file,
                      const RuntimeOptions& runtime, const std::string& command) {
  if (model_dir.empty() == config_file.empty())
    throw InvalidInput(tagged("cli", command + " needs -m DIR or --config FILE"));
  if (!model_dir.empty()) return load_model(model_dir, runtime);
  const Device device = parse_device(runtime.device);
  const bool bf16 =
      runtime.weights == "bf16" || (device == Device::Cuda && runtime.weights == "auto");
  return Model::random(load_config_warning(config_file).config, 1, bf16, device);
}

Tokenizer load_model_tokenizer(const std::string& model_dir) {
  if (!std::filesystem::is_directory(model_dir)) {
    throw InvalidInput(tagged(
        "cli", "-m " + model_dir + ": " +
                   (std::filesystem::exists(model_dir) ? "is not a directory" : "does not exist")));
  }
  const auto path = std::filesystem::path(model_dir) / "tokenizer.json";
  if (!std::filesystem::exists(path)) {
    throw InvalidInput(
        tagged("cli", path.string() + " not found: this model has no tokenizer; use --ids"));
  }
  return Tokenizer::from_file(path);
}

void PromptSource::add_to(CLI::App* sub, bool allow_ids) {
  auto* p = sub->add_option("-p,--prompt", text_arg, "Prompt text");
  auto* f = sub->add_option("-f,--file", file, "Read the prompt text from a file");
  p->excludes(f);
  if (allow_ids) {
    auto* i = sub->add_option("--ids", ids, "Prompt as comma-separated token ids");
    i->excludes(p)->excludes(f);
  }
}

std::string PromptSource::text() const {
  if (!file.empty()) {
    require_regular_file(file, "cli");
    std::ifstream in(file, std::ios::binary);
    if (!in) throw InvalidInput(tagged("cli", "-f: cannot read '" + file + "'"));
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  return text_arg;
}

std::vector<int32_t> PromptSource::tokens(const Tokenizer* tokenizer) const {
  if (has_ids()) return parse_ids(ids, "--ids");
  if (tokenizer == nullptr) throw InvalidInput(tagged("cli", "a text prompt needs a tokenizer"));
  return tokenizer->encode(text(), true);
}

}  // namespace xlstm::cli
