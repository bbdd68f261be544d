#pragma once
#include <cstdint>

#include "core/matrix.h"

namespace xlstm {

// y[M, N] = x[M, K] · W[N, K]ᵀ (+ bias[N]); PyTorch nn.Linear layout, float32 accumulation.
// F32 weights: OpenBLAS (sgemv for M == 1). BF16 weights: own kernel for few rows (memory-bound
// decode), else blocks of rows widened to float32 and multiplied by OpenBLAS.
void linear(const float* x, int64_t M, int64_t K, const Matrix& W, const float* bias, float* y);

// The same on raw float32 weights.
void linear_f32(const float* x, int64_t M, int64_t K, const float* W, int64_t N, const float* bias,
                float* y);

// y[n] = W[n, :] · x for rows [n0, n1) of W [·, K]: the decode GEMV's own kernel (one thread;
// 16 lanes per row, summed in a fixed order), for callers that split rows over threads themselves.
void gemv_rows_f32(const float* x, int64_t K, const float* W, int64_t n0, int64_t n1, float* y);

// linear_f32 on x rows with stride x_stride (≥ K): a column window of a wider buffer.
void linear_f32_strided(const float* x, int64_t x_stride, int64_t M, int64_t K, const float* W,
                        int64_t N, const float* bias, float* y);

}  // namespace xlstm
