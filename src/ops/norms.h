#pragma once
#include <cstdint>

namespace xlstm {

// RMSNorm over the last dim (xLSTM Large): y = x · rsqrt(mean(x²) + eps) · w (+ b). x, y: [T, D].
void rms_norm(const float* x, int64_t T, int64_t D, const float* w, const float* b, float eps,
              float* y);

// Per-head LayerNorm (mean-centred, biased variance) over DH, then the flat weight of length NH·DH.
// x, y: [T, NH·DH], head h at columns [h·DH, (h+1)·DH).
void multihead_layer_norm(const float* x, int64_t T, int64_t NH, int64_t DH, const float* w,
                          const float* b, float eps, float* y);

}  // namespace xlstm
