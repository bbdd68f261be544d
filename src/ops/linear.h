#pragma once
#include <cstdint>

namespace xlstm {

// y[M, N] = x[M, K] · W[N, K]ᵀ (+ bias[N]); PyTorch nn.Linear layout. OpenBLAS (sgemv for M == 1).
void linear(const float* x, int64_t M, int64_t K, const float* W, int64_t N, const float* bias, float* y);

}  // namespace xlstm
