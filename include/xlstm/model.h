#pragma once
// An xLSTM model (xLSTM Large / xLSTM-7B, or a stack of the original family's mLSTM v1 and sLSTM
// blocks) on the CPU or a CUDA GPU, loaded from a model directory.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "xlstm/config.h"
#include "xlstm/formulation.h"
#include "xlstm/sampler.h"
#include "xlstm/state.h"

namespace xlstm {

// Where a model's weights live and its forward passes run. Chosen once, at load.
enum class Device { Cpu, Cuda };
Device parse_device(const std::string& name);  // "cpu" | "cuda"
const char* device_name(Device d);
// One line about the device, e.g. "NVIDIA H100 80GB HBM3, sm_90, 132 SMs, 79.1 GiB".
std::string describe_device(Device d);
// Device memory held by the library (weights, workspace, states) now and at most since the last
// reset; zero on the CPU.
struct DeviceMemory {
  size_t in_use = 0, peak = 0;
};
DeviceMemory device_memory(Device d);
void reset_device_memory_peak(Device d);
// Persistent decode kernels (one launch per token and run of blocks: xLSTM Large's and the mLSTM
// v1 runs') enqueued by this process so far; a captured decode graph counts its launches once.
// Zero on the CPU. A diagnostic: whether a decode took the fast one-sequence path at all.
uint64_t persistent_decode_launches(Device d);

struct RunOptions {
  Formulation formulation = Formulation::Chunkwise;
  int64_t chunk_size = 0;  // 0: the config's chunk_size
  bool all_logits = true;  // false: only the last position's logits ([B, V])
  // Prefill runs in segments of this many tokens per sequence: bounded memory. 0: the device's
  // choice (CPU 1024; CUDA 4096 tokens over the batch, a multiple of 64 per sequence; the
  // original family's stacks 16384 on devices of 48 GiB or more).
  int64_t segment_len = 0;
  // 0: every sequence of the state. n > 0: only the state's first n sequences run (ids [n, S]);
  // the others are left as they are. A server keeps its running sequences in rows [0, n) of one
  // state of its maximum batch, so sequences join and leave without reallocating anything.
  int64_t rows = 0;
  // Called after each segment with the tokens per sequence done and in all (long prefills).
  std::function<void(int64_t, int64_t)> on_progress;
};

struct LoadOptions {
  std::vector<std::string>* warnings = nullptr;  // receives config warnings if set
  // In-memory weight type. Auto: on the CPU bf16 if the checkpoint stores bf16, else float32 (F16
  // is widened); on CUDA always bf16. CUDA with F32 runs float32 GEMMs (no TF32): the parity mode.
  enum class WeightDType { Auto, F32, BF16 } weight_type = WeightDType::Auto;
  Device device = Device::Cpu;
  bool cuda_graphs = true;  // CUDA: replay one-token steps from a captured CUDA graph
  // Scan every weight for NaN/Inf at load (an error names the tensor and index; multi-threaded,
  // at memory speed). One bad value would otherwise turn every output into garbage.
  bool check_weights = true;
};

class Model {
 public:
  // dir holds config.json and model.safetensors (or model.safetensors.index.json + shards).
  static Model load(const std::filesystem::path& dir, const LoadOptions& options = {});
  // Random weights of the config's shapes (benchmarks, tests): N(0, 1/sqrt(fan_in)), norms 1.
  // On CUDA they are drawn on the GPU (another generator: other values than on the CPU).
  static Model random(const ModelConfig& config, uint64_t seed, bool bf16_weights = false,
                      Device device = Device::Cpu);

  // Bytes of weights held in memory (what one decode step streams, roughly).
  size_t weight_bytes() const;
  Model(Model&&) noexcept;
  Model& operator=(Model&&) noexcept;
  ~Model();

  const ModelConfig& config() const;
  Device device() const;
  // A zero state for batch sequences. On a GPU it has its device copy from the start, so that
  // State::copy_sequence between such states (a server's batch, prefill and cached states) never
  // passes through host memory.
  State new_state(int64_t batch) const;

  // ids: [B, S] row-major, B = state.batch() (or options.rows). Advances state. Returns logits
  // [B, S, V] (all_logits) or [B, V]. Logits are soft-capped, float32. Not thread-safe: one call at
  // a time per Model.
  std::vector<float> forward(std::span<const int32_t> ids, State& state,
                             const RunOptions& options = {});

  // Runs ids as forward() does (advancing state), then picks the next token of each sequence from
  // its last logits on the model's device (on CUDA only the tokens cross to the host), by the rule
  // of sample_token(). u[b]: the uniform draw in [0, 1) for sequence b (unused when greedy);
  // history[b]: its tokens so far, for the repetition penalty (empty span: none).
  std::vector<int32_t> forward_sample(std::span<const int32_t> ids, State& state,
                                      const SamplingParams& params, std::span<const double> u,
                                      std::span<const std::vector<int32_t>> history = {},
                                      RunOptions options = {});

  // forward_sample in two halves, so that the caller can work while a GPU computes:
  // start_forward_sample queues the step and returns; finish_forward_sample waits for it and
  // returns the tokens. Backends without asynchronous sampling (samples_async() false: the CPU,
  // the family on CUDA) compute it all in start. One step may be started at a time. In between,
  // forward() on other states and State::copy_sequence into sequences the step does not run
  // (rows at or past its RunOptions::rows) may be called: a GPU runs them after the step. The
  // step's own sequences must not be read or changed until it is finished.
  void start_forward_sample(std::span<const int32_t> ids, State& state,
                            const SamplingParams& params, std::span<const double> u,
                            std::span<const std::vector<int32_t>> history = {},
                            RunOptions options = {});
  std::vector<int32_t> finish_forward_sample();
  // Whether start_forward_sample returns before the step is done (worth working in between).
  bool samples_async() const;
  // One-token steps replayed from a captured CUDA graph so far (0 on the CPU or with graphs
  // off): the graphs are what make small-batch decode fast, and a diagnostic can see them work.
  int64_t decode_graph_replays() const;

 private:
  struct Impl;
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace xlstm
