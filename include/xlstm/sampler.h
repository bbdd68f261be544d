#pragma once
// Token sampling from one row of logits: repetition penalty → temperature → top-k → top-p → min-p.
// temperature 0 = greedy. Same seed and inputs => same tokens (own uniform draw, not
// std::distributions).
#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace xlstm {

struct SamplingParams {
  float temperature = 0.0f;     // 0: greedy argmax
  int32_t top_k = 0;            // 0: off
  float top_p = 1.0f;           // 1: off
  float min_p = 0.0f;           // 0: off; keeps tokens with p >= min_p · p_max
  float repeat_penalty = 1.0f;  // 1: off; HF convention (divide positive logits, multiply negative)
  uint64_t seed = 0;
};

// Throws InvalidInput naming the parameter when a value is out of range.
void validate(const SamplingParams& p);

class Sampler {
 public:
  explicit Sampler(const SamplingParams& params);
  // logits: [V]; history: tokens seen so far (for the repetition penalty).
  int32_t sample(std::span<const float> logits, std::span<const int32_t> history);

 private:
  double uniform();  // [0, 1)
  SamplingParams p_;
  std::mt19937_64 rng_;
  std::vector<float> work_;
  std::vector<int32_t> order_;
  std::vector<bool> seen_;
};

}  // namespace xlstm
