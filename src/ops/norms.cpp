#include "ops/norms.h"

#include <cmath>

namespace xlstm {

void rms_norm(const float* x, int64_t T, int64_t D, const float* w, const float* b, float eps,
              float* y) {
#pragma omp parallel for if (T * D > (1 << 15))
  for (int64_t t = 0; t < T; ++t) {
    const float* xr = x + t * D;
    float* yr = y + t * D;
    double ss = 0.0;
    for (int64_t d = 0; d < D; ++d) ss += static_cast<double>(xr[d]) * xr[d];
    const float r = 1.0f / std::sqrt(static_cast<float>(ss / static_cast<double>(D)) + eps);
    for (int64_t d = 0; d < D; ++d) yr[d] = xr[d] * r * w[d] + (b != nullptr ? b[d] : 0.0f);
  }
}

void multihead_layer_norm(const float* x, int64_t T, int64_t NH, int64_t DH, const float* w,
                          const float* b, float eps, float* y) {
#pragma omp parallel for collapse(2) if (T * NH * DH > (1 << 15))
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t h = 0; h < NH; ++h) {
      const int64_t off = t * NH * DH + h * DH;
      const float* xr = x + off;
      float* yr = y + off;
      double sum = 0.0;
      for (int64_t d = 0; d < DH; ++d) sum += xr[d];
      const double mean = sum / static_cast<double>(DH);
      double var = 0.0;
      for (int64_t d = 0; d < DH; ++d) var += (xr[d] - mean) * (xr[d] - mean);
      const float r = 1.0f / std::sqrt(static_cast<float>(var / static_cast<double>(DH)) + eps);
      const float mu = static_cast<float>(mean);
      const float* wr = w + h * DH;
      const float* br = b != nullptr ? b + h * DH : nullptr;
      for (int64_t d = 0; d < DH; ++d)
        yr[d] = (xr[d] - mu) * r * wr[d] + (br != nullptr ? br[d] : 0.0f);
    }
  }
}

}  // namespace xlstm
