#pragma once
// Depthwise causal 1-D convolution over time (the original family's CausalConv1d, spec §3.2),
// carrying its input window across calls.
#include <cstdint>

namespace xlstm {

// x: [B·S, F] rows with stride x_stride (row b·S + s); y: [B·S, F] dense.
// w: [F, KS] (PyTorch's (F, 1, KS)), bias: [F] or null.
// state: [B, KS, F], the last KS inputs of each sequence, newest last (zeros when fresh); advanced.
//   y_t[f] = bias[f] + Σ_j w[f, j] · x_{t−KS+1+j}[f], inputs before this call taken from state.
void causal_conv1d(const float* x, int64_t x_stride, int64_t B, int64_t S, int64_t F,
                   const float* w, const float* bias, int64_t KS, float* state, float* y);

}  // namespace xlstm
