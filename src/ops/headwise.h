#pragma once
// Block-diagonal ("headwise") linear layer of the original family (LinearHeadwiseExpand, spec
// §3.2): NH independent blocks, y[h·O + o] = Σ_d x[h·I + d] · W[h, o, d] (+ b[h·O + o]).
#include <cstdint>

namespace xlstm {

// x: [T, NH·I] rows with stride x_stride; W: [NH, O, I]; b: [NH·O] or null; y: rows with stride
// y_stride, columns [0, NH·O).
void headwise_linear(const float* x, int64_t x_stride, int64_t T, int64_t NH, int64_t I, int64_t O,
                     const float* W, const float* b, float* y, int64_t y_stride);

}  // namespace xlstm
