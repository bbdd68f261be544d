// xlstm perplexity -m DIR -f FILE [--ctx N]: mean NLL and perplexity (llama.cpp convention).
#include <unistd.h>

#include <cstdio>
#include <memory>

#include "commands.h"
#include "xlstm/error.h"
#include "xlstm/perplexity.h"

namespace xlstm::cli {

void add_perplexity(CLI::App& app) {
  struct Opts {
    std::string model_dir, file;
    RuntimeOptions runtime;
    PerplexityOptions ppl;
    std::string bos = "auto";
  };
  auto o = std::make_shared<Opts>();
  auto* sub = app.add_subcommand(
      "perplexity", "Perplexity of a text file (non-overlapping windows, second half scored)");
  sub->add_option("-m,--model", o->model_dir, "Model directory (with tokenizer.json)")->required();
  sub->add_option("-f,--file", o->file, "Text file")->required();
  sub->add_option("--ctx", o->ppl.ctx, "Window length in tokens")
      ->check(CLI::Range(int64_t{2}, int64_t{1} << 30));
  sub->add_option("--batch", o->ppl.batch, "Windows evaluated together")
      ->check(CLI::PositiveNumber);
  sub->add_option("--bos", o->bos, "Prepend BOS to each window: auto (per config), yes, no")
      ->check(CLI::IsMember({"auto", "yes", "no"}));
  o->runtime.add_to(sub);
  sub->callback([o] {
    o->runtime.apply_threads();
    const Tokenizer tok = load_model_tokenizer(o->model_dir);
    PromptSource text;
    text.file = o->file;
    const auto tokens = tok.encode(text.text(), /*add_special_tokens=*/false);
    Model model = load_model(o->model_dir, o->runtime);
    o->ppl.prepend_bos =
        o->bos == "yes" || (o->bos == "auto" && model.config().force_bos_token_insert);
    // Progress on a terminal only (pipes and logs get the result alone), as llama.cpp's tools.
    if (isatty(STDERR_FILENO)) {
      o->ppl.on_progress = [](int64_t done, int64_t total, double ppl) {
        std::fprintf(stderr, "\rperplexity: %ld/%ld windows (%.0f%%), so far %.4f", done, total,
                     100.0 * static_cast<double>(done) / static_cast<double>(total), ppl);
        if (done == total) std::fprintf(stderr, "\n");
      };
    }
    const auto r = perplexity(model, tokens, o->ppl);
    std::printf("tokens %zu, ctx %ld, windows %ld, scored tokens %ld, bos %s\n", tokens.size(),
                o->ppl.ctx, r.windows, r.scored_tokens, o->ppl.prepend_bos ? "prepended" : "none");
    std::printf("mean NLL %.6f, perplexity %.4f\n", r.mean_nll, r.perplexity);
  });
}

}  // namespace xlstm::cli
