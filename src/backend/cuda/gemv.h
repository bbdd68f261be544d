#pragma once
// y[M, N] (float32) = x[M, K] · W[N, K]ᵀ (+ bias[N]) (+ y when accumulating) for bf16 x and W and
// few rows (M ≤ kGemvMaxRows): the decode GEMMs, which only stream W once from device memory.
// Same contract as Gemm::linear. Gemm::linear routes bf16 calls with M ≤ kGemvDefaultRows here:
// on the H100 (bench/results/cuda_bench_2026-11-22_gemv.log) it beat cuBLASLt at M = 1 and lost
// at M = 8. The environment variable XLSTM_GEMV overrides that bound: "off" (cuBLASLt throughout)
// or a number of rows 1 .. 8 (comparisons).
#include <cstdint>

#include "backend/cuda/api.h"

namespace xlstm::cuda {

inline constexpr int64_t kGemvMaxRows = 8, kGemvDefaultRows = 1;

void gemv_bf16(const void* x, int64_t M, int64_t K, const void* W, int64_t N, const float* bias,
               float* y, bool accumulate, Stream s);

}  // namespace xlstm::cuda
