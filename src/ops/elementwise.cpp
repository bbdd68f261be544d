#include "ops/elementwise.h"

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

void apply_output_gate(float* h, int64_t T, int64_t D, const float* o, int64_t o_stride) {
#pragma omp parallel for if (T * D > (1 << 15))
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t j = 0; j < D; ++j) h[t * D + j] *= sigmoid(o[t * o_stride + j]);
  }
}

}  // namespace xlstm
