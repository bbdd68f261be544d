#pragma once
// An xLSTM Large model (xLSTM-7B architecture) on the CPU, loaded from a Hugging Face model
// directory.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "xlstm/config.h"
#include "xlstm/formulation.h"
#include "xlstm/state.h"

namespace xlstm {

struct RunOptions {
  Formulation formulation = Formulation::Chunkwise;
  int64_t chunk_size = 0;  // 0: the config's chunk_size
  bool all_logits = true;  // false: only the last position's logits ([B, V])
  int64_t segment_len =
      1024;  // prefill is processed in segments of this many tokens: bounded memory
};

struct LoadOptions {
  std::vector<std::string>* warnings = nullptr;  // receives config warnings if set
  // In-memory weight type. Auto: bf16 if the checkpoint stores bf16, else float32 (F16 is widened).
  enum class WeightDType { Auto, F32, BF16 } weight_type = WeightDType::Auto;
};

class Model {
 public:
  // dir holds config.json and model.safetensors (or model.safetensors.index.json + shards).
  static Model load(const std::filesystem::path& dir, const LoadOptions& options = {});
  // Random weights of the config's shapes (benchmarks, tests): N(0, 1/sqrt(fan_in)), norms 1.
  static Model random(const ModelConfig& config, uint64_t seed, bool bf16_weights = false);

  // Bytes of weights held in memory (what one decode step streams, roughly).
  size_t weight_bytes() const;
  Model(Model&&) noexcept;
  Model& operator=(Model&&) noexcept;
  ~Model();

  const ModelConfig& config() const;
  State new_state(int64_t batch) const { return State(config(), batch); }

  // ids: [B, S] row-major, B = state.batch(). Advances state. Returns logits [B, S, V] (all_logits)
  // or [B, V]. Logits are soft-capped, float32. Not thread-safe: one call at a time per Model.
  std::vector<float> forward(std::span<const int32_t> ids, State& state,
                             const RunOptions& options = {});

 private:
  struct Impl;
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace xlstm
