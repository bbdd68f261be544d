// xlstm generate -m DIR --ids ... -n N [sampling flags]: prints the new token ids.
#include <iostream>
#include <memory>

#include "commands.h"
#include "xlstm/error.h"
#include "xlstm/generator.h"

namespace xlstm::cli {

void add_generate(CLI::App& app) {
  struct Opts {
    std::string model_dir, ids;
    GenerateOptions gen;
    bool no_bos = false, ignore_eos = false;
    int threads = 0;
    std::string weights = "auto";
  };
  auto o = std::make_shared<Opts>();
  auto* sub = app.add_subcommand("generate", "Continue a prompt");
  sub->add_option("-m,--model", o->model_dir, "Model directory")->required();
  sub->add_option("--ids", o->ids, "Prompt as comma-separated token ids")->required();
  sub->add_option("-n,--n-predict", o->gen.max_new_tokens, "Number of tokens to generate")->check(CLI::NonNegativeNumber);
  sub->add_option("--temp", o->gen.sampling.temperature, "Temperature (0 = greedy)");
  sub->add_option("--top-k", o->gen.sampling.top_k, "Top-k (0 = off)");
  sub->add_option("--top-p", o->gen.sampling.top_p, "Top-p (1 = off)");
  sub->add_option("--min-p", o->gen.sampling.min_p, "Min-p (0 = off)");
  sub->add_option("--repeat-penalty", o->gen.sampling.repeat_penalty, "Repetition penalty (1 = off)");
  sub->add_option("--seed", o->gen.sampling.seed, "RNG seed");
  sub->add_flag("--no-bos", o->no_bos, "Do not insert BOS even if the config asks for it");
  sub->add_flag("--ignore-eos", o->ignore_eos, "Keep generating after EOS");
  sub->add_option("--weights", o->weights, "In-memory weight type: auto (as stored), f32, bf16")
      ->check(CLI::IsMember({"auto", "f32", "bf16"}));
  sub->add_option("-t,--threads", o->threads, "CPU threads (0 = all)")->check(CLI::NonNegativeNumber);
  sub->callback([o] {
    apply_threads(o->threads);
    validate(o->gen.sampling);
    const auto prompt = parse_ids(o->ids, "--ids");
    Model model = Model::load(o->model_dir, load_options(o->weights));
    o->gen.insert_bos = !o->no_bos;
    o->gen.stop_at_eos = !o->ignore_eos;
    bool first = true;
    auto r = generate(model, prompt, o->gen, [&](int32_t id) {
      std::cout << (first ? "" : ",") << id << std::flush;
      first = false;
      return true;
    });
    std::cout << "\n";
    std::cerr << r.prompt_tokens << " prompt tokens, " << r.tokens.size() << " generated (" << r.stop_reason << "), "
              << r.prefill_seconds << " s prefill, " << r.decode_seconds << " s decode\n";
  });
}

}  // namespace xlstm::cli
