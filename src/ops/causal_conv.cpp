#include "ops/causal_conv.h"

#include <algorithm>
#include <vector>

namespace xlstm {

void causal_conv1d(const float* x, int64_t x_stride, int64_t B, int64_t S, int64_t F,
                   const float* w, const float* bias, int64_t KS, float* state, float* y) {
#pragma omp parallel for if (B * S * F * KS > (1 << 16))
  for (int64_t b = 0; b < B; ++b) {
    float* st = state + b * KS * F;
    // Input at relative time r (r < 0: from the window, r = -1 is its newest entry).
    auto input = [&](int64_t r) -> const float* {
      return r >= 0 ? x + (b * S + r) * x_stride : st + (KS + r) * F;
    };
    for (int64_t t = 0; t < S; ++t) {
      float* yr = y + (b * S + t) * F;
      for (int64_t f = 0; f < F; ++f) yr[f] = bias != nullptr ? bias[f] : 0.0f;
      for (int64_t j = 0; j < KS; ++j) {
        const float* xr = input(t - KS + 1 + j);  // ≥ −(KS − 1): inside the window
        for (int64_t f = 0; f < F; ++f) yr[f] += w[f * KS + j] * xr[f];
      }
    }
    // New window: the last KS inputs of [window, x].
    std::vector<float> window(static_cast<size_t>(KS * F));
    for (int64_t j = 0; j < KS; ++j) {
      const int64_t r = S - KS + j;
      std::copy_n(input(r), F, window.data() + j * F);
    }
    std::copy(window.begin(), window.end(), st);
  }
}

}  // namespace xlstm
