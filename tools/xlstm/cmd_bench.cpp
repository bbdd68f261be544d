// xlstm bench: prefill throughput, time to first token, decode throughput (tokens picked on the
// model's device, as in generation), peak RSS and peak device memory for a model (or random
// weights of a config).
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>

#include "commands.h"
#include "xlstm/cpu.h"
#include "xlstm/error.h"
#include "xlstm/model.h"
#include "xlstm/threads.h"

namespace xlstm::cli {

namespace {
double peak_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // ru_maxrss is KiB on Linux
}
}  // namespace

void add_bench(CLI::App& app) {
  struct Opts {
    std::string model_dir, config_file, batches = "1";
    int64_t prompt_len = 512, gen = 64, chunk_size = 0, segment_len = 0;
    int reps = 1;
    RuntimeOptions runtime;
  };
  auto o = std::make_shared<Opts>();
  auto* sub = app.add_subcommand("bench", "Measure prefill and decode tokens/s and peak memory");
  auto* m = sub->add_option("-m,--model", o->model_dir, "Model directory");
  auto* c = sub->add_option("--config", o->config_file,
                            "config.json: benchmark random weights of this shape");
  m->excludes(c);
  sub->add_option("--prompt-len", o->prompt_len, "Prompt tokens per sequence")
      ->check(CLI::PositiveNumber);
  sub->add_option("--gen", o->gen, "Decode steps")->check(CLI::NonNegativeNumber);
  sub->add_option("--batch", o->batches, "Comma-separated batch sizes");
  sub->add_option("--chunk-size", o->chunk_size, "Prefill chunk size (default: config)")
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--segment-len", o->segment_len,
                  "Prefill segment length in tokens (default: the library's)")
      ->check(CLI::NonNegativeNumber);
  o->runtime.add_to(sub);
  sub->add_option("--reps", o->reps, "Repetitions (best is reported)")->check(CLI::PositiveNumber);
  sub->callback([o] {
    o->runtime.apply_threads();
    Model model = model_or_random(o->model_dir, o->config_file, o->runtime, "bench");
    const Device device = model.device();
    const ModelConfig& cfg = model.config();
    using clock = std::chrono::steady_clock;
    std::printf("model: E=%ld blocks=%ld heads=%ld V=%ld params=%.1fM weights=%.1f MB threads=%d\n",
                cfg.embedding_dim, cfg.num_blocks, cfg.num_heads, cfg.vocab_size,
                cfg.parameter_count() / 1e6, model.weight_bytes() / 1e6, num_threads());
    if (device == Device::Cuda) {
      std::printf("device: %s\n", describe_device(device).c_str());
    } else {
      std::printf("cpu kernels: %s\n", cpu_kernel_target().c_str());
    }
    // TTFT: the prompt's forward pass plus the greedy pick of each sequence's first token.
    // decode: "persistent" where a persistent decode kernel ran (one-sequence bf16 decode on
    // sm_90), "kernels" for the per-kernel decode, "cpu".
    std::printf(
        "| batch | prompt | prefill tok/s | TTFT ms | decode steps | decode tok/s | peak RSS MiB "
        "| peak GPU MiB | decode |\n");
    std::printf(
        "|------:|-------:|--------------:|--------:|-------------:|-------------:|-------------:"
        "|-------------:|:-------|\n");
    for (int32_t B : parse_ids(o->batches, "--batch")) {
      if (B <= 0) throw InvalidInput(tagged("cli", "--batch: sizes must be positive"));
      std::vector<int32_t> prompt(static_cast<size_t>(B * o->prompt_len));
      for (size_t i = 0; i < prompt.size(); ++i)
        prompt[i] = static_cast<int32_t>((i * 7919 + 13) % cfg.vocab_size);
      double best_prefill = 0, best_decode = 0, best_ttft = 1e30;
      reset_device_memory_peak(device);
      const int64_t replays_before = model.decode_graph_replays();
      const uint64_t persistent_before = persistent_decode_launches(device);
      for (int r = 0; r < o->reps; ++r) {
        State state = model.new_state(B);
        RunOptions run;
        run.all_logits = false;
        run.chunk_size = o->chunk_size;
        if (o->segment_len > 0) run.segment_len = o->segment_len;
        // As generation runs: the prompt's pass and greedy pick of the first tokens (TTFT), then
        // one step per token with the pick on the model's device (only tokens cross to the host).
        const SamplingParams greedy;
        const std::vector<double> u(static_cast<size_t>(B), 0.0);
        auto t0 = clock::now();
        std::vector<int32_t> next = model.forward_sample(prompt, state, greedy, u, {}, run);
        const double prefill = std::chrono::duration<double>(clock::now() - t0).count();
        best_ttft = std::min(best_ttft, prefill);
        run.formulation = Formulation::Step;
        auto t1 = clock::now();
        for (int64_t s = 0; s < o->gen; ++s)
          next = model.forward_sample(next, state, greedy, u, {}, run);
        const double decode = std::chrono::duration<double>(clock::now() - t1).count();
        best_prefill = std::max(best_prefill, B * o->prompt_len / prefill);
        if (o->gen > 0) best_decode = std::max(best_decode, B * o->gen / decode);
      }
      // Each new state's first step runs eagerly and its second is captured: with three steps
      // or more, none replayed means decode ran without graphs (slower, and not as designed).
      if (device == Device::Cuda && o->gen >= 3 && model.decode_graph_replays() == replays_before)
        std::fprintf(stderr, "warning: no decode step of batch %d replayed a CUDA graph\n", B);
      const char* path = device != Device::Cuda                                   ? "cpu"
                         : persistent_decode_launches(device) > persistent_before ? "persistent"
                                                                                  : "kernels";
      std::printf("| %5d | %6ld | %13.1f | %7.1f | %12ld | %12.2f | %12.1f | %12.1f | %s |\n", B,
                  o->prompt_len, best_prefill, best_ttft * 1e3, o->gen, best_decode, peak_rss_mib(),
                  static_cast<double>(device_memory(device).peak) / (1 << 20), path);
    }
  });
}

}  // namespace xlstm::cli
