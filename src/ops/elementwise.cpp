#include "ops/elementwise.h"

#include <cmath>

namespace xlstm {

void soft_cap_columns(float* x, int64_t rows, int64_t cols, int64_t col0, int64_t ncols,
                      float cap) {
#pragma omp parallel for if (rows * ncols > (1 << 15))
  for (int64_t r = 0; r < rows; ++r) {
    float* row = x + r * cols + col0;
    for (int64_t j = 0; j < ncols; ++j) row[j] = soft_cap(row[j], cap);
  }
}

void swiglu(const float* gate_up, int64_t T, int64_t F, float* out) {
#pragma omp parallel for if (T * F > (1 << 15))
  for (int64_t t = 0; t < T; ++t) {
    const float* g = gate_up + t * 2 * F;
    const float* u = g + F;
    float* o = out + t * F;
    for (int64_t j = 0; j < F; ++j) o[j] = g[j] * sigmoid(g[j]) * u[j];
  }
}

namespace {
float activate(float x, Activation a) {
  switch (a) {
    case Activation::Gelu:
      return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752f));
    case Activation::Relu:
      return std::fmax(x, 0.0f);
    case Activation::ReluSquared:
      return std::fmax(x, 0.0f) * std::fmax(x, 0.0f);
    case Activation::Sigmoid:
      return sigmoid(x);
    case Activation::Swish:
      return x * sigmoid(x);
    case Activation::Selu:
      return 1.0507009873554805f * (x > 0 ? x : 1.6732632423543772f * std::expm1(x));
  }
  return x;
}
}  // namespace

void gated_activation(const float* gate_up, int64_t T, int64_t F, Activation act, float* out) {
#pragma omp parallel for if (T * F > (1 << 15))
  for (int64_t t = 0; t < T; ++t) {
    const float* g = gate_up + t * 2 * F;
    const float* u = g + F;
    float* o = out + t * F;
    for (int64_t j = 0; j < F; ++j) o[j] = activate(g[j], act) * u[j];
  }
}

void silu_inplace(float* x, int64_t T, int64_t D, int64_t stride) {
#pragma omp parallel for if (T * D > (1 << 15))
  for (int64_t t = 0; t < T; ++t) {
    float* r = x + t * stride;
    for (int64_t j = 0; j < D; ++j) r[j] *= sigmoid(r[j]);
  }
}

void apply_output_gate(float* h, int64_t T, int64_t D, const float* o, int64_t o_stride) {
#pragma omp parallel for if (T * D > (1 << 15))
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t j = 0; j < D; ++j) h[t * D + j] *= sigmoid(o[t * o_stride + j]);
  }
}

}  // namespace xlstm
