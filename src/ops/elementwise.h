#pragma once
#include <cmath>
#include <cstdint>

namespace xlstm {

inline float sigmoid(float x) {
  return 1.0f / (1.0f + std::exp(-x));
}
// log σ(x) = -softplus(-x), stable for large |x|.
inline float log_sigmoid(float x) {
  return std::fmin(x, 0.0f) - std::log1p(std::exp(-std::fabs(x)));
}
inline float soft_cap(float x, float cap) {
  return cap * std::tanh(x / cap);
}

// In place on [rows, cols] with a column window [col0, col0 + ncols): x = cap · tanh(x / cap).
void soft_cap_columns(float* x, int64_t rows, int64_t cols, int64_t col0, int64_t ncols, float cap);

// out[t, j] = SiLU(gate[t, j]) · up[t, j], with gate|up side by side in one [T, 2F] row.
void swiglu(const float* gate_up, int64_t T, int64_t F, float* out);

// The original family's feed-forward activations (spec §3.1; gelu is the exact erf form).
enum class Activation { Gelu, Relu, ReluSquared, Sigmoid, Swish, Selu };
// out[t, j] = act(gate[t, j]) · up[t, j], with gate|up side by side in one [T, 2F] row.
void gated_activation(const float* gate_up, int64_t T, int64_t F, Activation act, float* out);
// x = x · σ(x) in place, rows [T, D] with stride stride.
void silu_inplace(float* x, int64_t T, int64_t D, int64_t stride);

// h[t, j] *= σ(o[t, j]); o rows have stride o_stride.
void apply_output_gate(float* h, int64_t T, int64_t D, const float* o, int64_t o_stride);

}  // namespace xlstm
