// xlstm logits -m DIR --ids 1,2,3 | --batch-file ids.npy [--mode M] [--state-in F] [--state-out F]
// --out logits.npy  → float32 [B, S, V]. --state-in starts from a saved state (its batch size must
// be the input's), --state-out saves the state after the input: a prefix in one process and the
// rest in another give the logits of one run.
#include <iostream>
#include <memory>
#include <optional>

#include "commands.h"
#include "xlstm/error.h"
#include "xlstm/model.h"
#include "xlstm/npy.h"

namespace xlstm::cli {

void add_logits(CLI::App& app) {
  struct Opts {
    std::string model_dir, batch_file, mode = "chunkwise", out, state_in, state_out;
    PromptSource prompt;
    int64_t chunk_size = 0;
    RuntimeOptions runtime;
  };
  auto o = std::make_shared<Opts>();
  auto* sub = app.add_subcommand("logits", "Write the logits of a token sequence to a .npy file");
  sub->add_option("-m,--model", o->model_dir, "Model directory")->required();
  o->prompt.add_to(sub, /*allow_ids=*/true);
  sub->add_option("--batch-file", o->batch_file, ".npy of int32/int64 ids, shape [B, S]");
  sub->add_option("--mode", o->mode, "mLSTM formulation")
      ->check(CLI::IsMember({"parallel", "chunkwise", "step"}));
  sub->add_option("--chunk-size", o->chunk_size,
                  "Chunk size for --mode chunkwise (default: config)")
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--out", o->out, "Output .npy (float32 [B, S, V])")->required();
  sub->add_option("--state-in", o->state_in, "Start from this saved state (safetensors)");
  sub->add_option("--state-out", o->state_out, "Save the state after the input here");
  o->runtime.add_to(sub);
  sub->callback([o] {
    const bool has_prompt =
        o->prompt.has_ids() || !o->prompt.text_arg.empty() || !o->prompt.file.empty();
    if (has_prompt == !o->batch_file.empty()) {
      throw InvalidInput(
          tagged("cli", "logits needs exactly one of --ids, -p, -f or --batch-file"));
    }
    o->runtime.apply_threads();
    Model model = load_model(o->model_dir, o->runtime);
    std::vector<int32_t> tokens;
    int64_t B = 1;
    if (has_prompt) {
      std::optional<Tokenizer> tok;
      if (!o->prompt.has_ids()) tok = load_model_tokenizer(o->model_dir);
      tokens = o->prompt.tokens(tok ? &*tok : nullptr);
    } else {
      auto arr = read_npy_ids(o->batch_file);
      B = arr.shape[0];
      tokens = std::move(arr.ids);
    }
    const int64_t S = static_cast<int64_t>(tokens.size()) / B;
    State state =
        o->state_in.empty() ? model.new_state(B) : State::load(o->state_in, model.config());
    if (state.batch() != B) {
      throw InvalidInput(tagged("cli", "--state-in " + o->state_in + " holds " +
                                           std::to_string(state.batch()) +
                                           " sequences, the input " + std::to_string(B)));
    }
    RunOptions run;
    run.formulation = parse_formulation(o->mode);
    run.chunk_size = o->chunk_size;
    const auto logits = model.forward(tokens, state, run);
    write_npy_f32(o->out, {B, S, model.config().vocab_size}, logits.data());
    if (!o->state_out.empty()) state.save(o->state_out);
    std::cerr << "wrote " << o->out << " [" << B << ", " << S << ", " << model.config().vocab_size
              << "]\n";
  });
}

}  // namespace xlstm::cli
