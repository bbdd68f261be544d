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

// Reusable buffers of sample_token (no allocation per token once sized).
struct SamplerScratch {
  std::vector<float> work;
  std::vector<int32_t> order;
  std::vector<double> prob;
  std::vector<bool> seen;
};

// The sampling rule: repetition penalty, then greedy argmax (lowest index on ties) when
// temperature is 0, else candidates sorted by logit (ties: lower index first), top-k, softmax at
// the temperature, top-p (shortest prefix with mass >= top_p), min-p, and the candidate where the
// running mass first exceeds u · (kept mass). u in [0, 1). The CUDA sampler follows the same rule.
int32_t sample_token(std::span<const float> logits, std::span<const int32_t> history,
                     const SamplingParams& p, double u, SamplerScratch& scratch);

class Sampler {
 public:
  explicit Sampler(const SamplingParams& params);
  // logits: [V]; history: tokens seen so far (for the repetition penalty).
  int32_t sample(std::span<const float> logits, std::span<const int32_t> history);
  // The uniform draw that the next sample() would use (0 without drawing when greedy): for
  // sampling elsewhere (Model::forward_sample) with the same seed semantics.
  double draw();
  const SamplingParams& params() const { return p_; }

 private:
  double uniform();  // [0, 1)
  SamplingParams p_;
  std::mt19937_64 rng_;
  SamplerScratch scratch_;
};

}  // namespace xlstm
