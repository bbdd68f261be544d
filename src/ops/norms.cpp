#include "ops/norms.h"

#include <cmath>

#include "core/cpu_dispatch.h"

namespace xlstm {

namespace {
// One row of D: y = x / rms(x) * w + b (the sum of squares in double).
XLSTM_CPU_KERNEL void rms_norm_row(const float* xr, int64_t D, const float* w, const float* b,
                                   float eps, float* yr) {
  double ss = 0.0;
  for (int64_t d = 0; d < D; ++d) ss += static_cast<double>(xr[d]) * xr[d];
  const float r = 1.0f / std::sqrt(static_cast<float>(ss / static_cast<double>(D)) + eps);
  for (int64_t d = 0; d < D; ++d) yr[d] = xr[d] * r * w[d] + (b != nullptr ? b[d] : 0.0f);
}

// One head of DH: y = (x - mean) / std * w + b (mean and variance in double).
XLSTM_CPU_KERNEL void layer_norm_head(const float* xr, int64_t DH, const float* wr, const float* br,
                                      float eps, float* yr) {
  double sum = 0.0;
  for (int64_t d = 0; d < DH; ++d) sum += xr[d];
  const double mean = sum / static_cast<double>(DH);
  double var = 0.0;
  for (int64_t d = 0; d < DH; ++d) var += (xr[d] - mean) * (xr[d] - mean);
  const float r = 1.0f / std::sqrt(static_cast<float>(var / static_cast<double>(DH)) + eps);
  const float mu = static_cast<float>(mean);
  for (int64_t d = 0; d < DH; ++d)
    yr[d] = (xr[d] - mu) * r * wr[d] + (br != nullptr ? br[d] : 0.0f);
}
}  // namespace

void rms_norm(const float* x, int64_t T, int64_t D, const float* w, const float* b, float eps,
              float* y) {
#pragma omp parallel for if (T * D > (1 << 15))
  for (int64_t t = 0; t < T; ++t) rms_norm_row(x + t * D, D, w, b, eps, y + t * D);
}

void multihead_layer_norm(const float* x, int64_t T, int64_t NH, int64_t DH, const float* w,
                          const float* b, float eps, float* y) {
#pragma omp parallel for collapse(2) if (T * NH * DH > (1 << 15))
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t h = 0; h < NH; ++h) {
      const int64_t off = t * NH * DH + h * DH;
      layer_norm_head(x + off, DH, w + h * DH, b != nullptr ? b + h * DH : nullptr, eps, y + off);
    }
  }
}

}  // namespace xlstm
