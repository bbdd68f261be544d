#pragma once
// The seam between the device-neutral model front (model.cpp: checks, segmenting, sampling API)
// and a device's implementation: the CPU (cpu_model.cpp) or CUDA (src/backend/cuda/cuda_model.cpp,
// or the no_cuda.cpp stub in builds without it). Model::load/random pick one; nothing else
// dispatches on the device.
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/matrix.h"
#include "model/weight_loader.h"
#include "xlstm/config.h"
#include "xlstm/model.h"
#include "xlstm/sampler.h"
#include "xlstm/state.h"

namespace xlstm {

class ModelBackend {
 public:
  virtual ~ModelBackend() = default;
  virtual size_t weight_bytes() const = 0;
  // Segment length per sequence when RunOptions::segment_len is 0.
  virtual int64_t default_segment_len(int64_t /*B*/) const { return 1024; }
  // One segment of ids [B, S] (checked by the front) through the model, advancing state. Keeps the
  // soft-capped float32 logits of all B·S positions (all_logits) or of each sequence's last one.
  virtual void run_segment(const int32_t* ids, int64_t B, int64_t S, State& state,
                           const RunOptions& o, bool all_logits) = 0;
  // Gives a new (zero) state its copy in the backend's memory, if the backend keeps one.
  virtual void place_state(State& /*state*/) {}
  // Copies the kept logits ([rows, V]) to host memory.
  virtual void read_logits(float* dst) = 0;
  // One token per sequence from the kept last-position logits (run_segment with !all_logits).
  virtual std::vector<int32_t> sample(const SamplingParams& p, std::span<const double> u,
                                      std::span<const std::vector<int32_t>> history) = 0;
  // sample() in two halves: start may leave the work queued on the device; finish waits for
  // it and returns the tokens. By default start does it all (and samples_async() says so).
  virtual bool samples_async() const { return false; }
  // Decode steps replayed from a captured CUDA graph so far (Model::decode_graph_replays).
  virtual int64_t graph_replays_so_far() const { return 0; }
  virtual void sample_start(const SamplingParams& p, std::span<const double> u,
                            std::span<const std::vector<int32_t>> history) {
    started_tokens_ = sample(p, u, history);
  }
  virtual std::vector<int32_t> sample_finish() { return std::move(started_tokens_); }

 private:
  std::vector<int32_t> started_tokens_;  // the default halves' result, between the two calls
};

std::unique_ptr<ModelBackend> load_cpu_backend(const ModelConfig& c, WeightLoader& loader,
                                               WeightType weight_type);
std::unique_ptr<ModelBackend> random_cpu_backend(const ModelConfig& c, uint64_t seed,
                                                 WeightType weight_type);

namespace cuda {
// Throw "[cuda] ..." when the build has no CUDA backend or the machine no CUDA device.
std::unique_ptr<ModelBackend> load_backend(const ModelConfig& c, WeightLoader& loader,
                                           WeightType weight_type, const LoadOptions& options);
std::unique_ptr<ModelBackend> random_backend(const ModelConfig& c, uint64_t seed,
                                             WeightType weight_type);
}  // namespace cuda

}  // namespace xlstm
