// xlstm generate -m DIR (-p TEXT | -f FILE | --ids ...) -n N [sampling flags]
//                [--state-in FILE] [--state-out FILE]
// Streams text when the model has a tokenizer (prompt, then continuation), else prints new ids.
// --state-out saves the sequence (prompt and new tokens) as a SequenceCheckpoint; --state-in
// continues one: the prompt (optional then, encoded without special tokens) follows its tokens.
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>

#include "commands.h"
#include "core/regular_file.h"
#include "xlstm/error.h"
#include "xlstm/generator.h"

namespace xlstm::cli {

void add_generate(CLI::App& app) {
  struct Opts {
    std::string model_dir;
    PromptSource prompt;
    GenerateOptions gen;
    bool no_bos = false, ignore_eos = false, print_ids = false;
    std::string state_in, state_out;
    RuntimeOptions runtime;
  };
  auto o = std::make_shared<Opts>();
  auto* sub = app.add_subcommand("generate", "Continue a prompt");
  sub->add_option("-m,--model", o->model_dir, "Model directory")->required();
  o->prompt.add_to(sub, /*allow_ids=*/true);
  sub->add_option("-n,--n-predict", o->gen.max_new_tokens, "Number of tokens to generate")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 30));
  sub->add_option("--temp", o->gen.sampling.temperature, "Temperature (0 = greedy)");
  sub->add_option("--top-k", o->gen.sampling.top_k, "Top-k (0 = off)");
  sub->add_option("--top-p", o->gen.sampling.top_p, "Top-p (1 = off)");
  sub->add_option("--min-p", o->gen.sampling.min_p, "Min-p (0 = off)");
  sub->add_option("--repeat-penalty", o->gen.sampling.repeat_penalty,
                  "Repetition penalty (1 = off)");
  // Checked as written: the integer conversion would wrap "-1" and saturate 2^64 silently.
  sub->add_option("--seed", o->gen.sampling.seed, "RNG seed")
      ->check(CLI::Validator(
          [](std::string& s) -> std::string {
            uint64_t v = 0;
            const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
            if (s.empty() || ec != std::errc() || end != s.data() + s.size())
              return "expected an integer in [0, 18446744073709551615], got '" + s + "'";
            return {};
          },
          "UINT64"));
  sub->add_flag("--no-bos", o->no_bos, "Do not insert BOS even if the config asks for it");
  sub->add_flag("--ignore-eos", o->ignore_eos, "Keep generating after EOS");
  sub->add_flag("--print-ids", o->print_ids, "Print token ids instead of text");
  sub->add_option("--state-in", o->state_in,
                  "Continue the sequence saved in this file (by --state-out or the server)");
  sub->add_option("--state-out", o->state_out,
                  "Save the sequence (state and tokens) to this file at the end");
  o->runtime.add_to(sub);
  sub->callback([o] {
    o->runtime.apply_threads();
    validate(o->gen.sampling);
    const bool resume = !o->state_in.empty();
    const bool no_prompt =
        !o->prompt.has_ids() && o->prompt.text_arg.empty() && o->prompt.file.empty();
    if (no_prompt && !resume) {
      throw InvalidInput(tagged("cli", "generate needs a prompt: -p TEXT, -f FILE or --ids"));
    }
    std::optional<Tokenizer> tok;
    if ((!o->prompt.has_ids() && !no_prompt) ||
        (!o->print_ids && std::filesystem::exists(o->model_dir + "/tokenizer.json"))) {
      tok = load_model_tokenizer(o->model_dir);
    }
    // A continuation's text gets no special tokens (no BOS in the middle of a sequence).
    std::vector<int32_t> prompt;
    if (resume && !o->prompt.has_ids()) {
      if (!no_prompt) prompt = tok->encode(o->prompt.text(), /*add_special_tokens=*/false);
    } else {
      prompt = o->prompt.tokens(tok ? &*tok : nullptr);
    }
    Model model = load_model(o->model_dir, o->runtime);
    std::optional<SequenceCheckpoint> resume_from;
    if (resume) {
      require_regular_file(o->state_in, "cli");
      resume_from = SequenceCheckpoint::load(o->state_in, model.config());
      o->gen.resume = &*resume_from;
    }
    SequenceCheckpoint checkpoint;
    if (!o->state_out.empty()) o->gen.checkpoint = &checkpoint;
    o->gen.insert_bos = !o->no_bos;
    o->gen.stop_at_eos = !o->ignore_eos;
    const bool as_text = tok && !o->print_ids;
    std::optional<StreamingDetokenizer> detok;
    if (as_text) detok.emplace(*tok, /*skip_special_tokens=*/true);
    // The prompt is echoed once the prefill is done: a long prefill's progress line (stderr, on a
    // terminal only) is cleared first.
    bool echoed = false;
    auto echo_prompt = [&] {
      if (as_text && !echoed) {
        std::cout << (o->prompt.has_ids() ? tok->decode(prompt, true) : o->prompt.text())
                  << std::flush;
      }
      echoed = true;
    };
    if (isatty(STDERR_FILENO)) {
      o->gen.on_prefill_progress = [shown = false](int64_t done, int64_t total) mutable {
        if (done < total) {
          std::fprintf(stderr, "\rprefill: %ld/%ld tokens (%.0f%%)", done, total,
                       100.0 * static_cast<double>(done) / static_cast<double>(total));
          shown = true;
        } else if (shown) {
          std::fprintf(stderr, "\r\033[K");
        }
      };
    }
    bool first = true;
    auto r = generate(model, prompt, o->gen, [&](int32_t id) {
      echo_prompt();
      if (as_text) {
        std::cout << detok->push(id) << std::flush;
      } else {
        std::cout << (first ? "" : ",") << id << std::flush;
      }
      first = false;
      return true;
    });
    echo_prompt();
    if (as_text) std::cout << detok->flush();
    std::cout << "\n";
    if (!o->state_out.empty()) checkpoint.save(o->state_out);
    const double tps =
        r.decode_seconds > 0 ? static_cast<double>(r.tokens.size()) / r.decode_seconds : 0.0;
    std::cerr << r.prompt_tokens << " prompt tokens, " << r.tokens.size() << " generated ("
              << r.stop_reason << "), " << r.prefill_seconds << " s prefill, " << tps
              << " tokens/s decode\n";
  });
}

}  // namespace xlstm::cli
