#pragma once
// y[M, N] (float32) = x[M, K] · W[N, K]ᵀ (+ bias[N]) (+ y when accumulating) for bf16 x and W and
// few rows (M ≤ kGemvMaxRows): the decode GEMMs, which only stream W once from device memory.
// Same contract as Gemm::linear. Gemm::linear routes bf16 calls with M ≤ kGemvDefaultRows here,
// and decode with that many sequences runs the fused forms below: on the H100 the whole decode
// step was 4% faster than with cuBLASLt at B = 2 and 3, 2% slower at B = 4 and far slower at
// B = 6 and 8 (bench/results/cuda.md, third session). The environment variable XLSTM_GEMV
// overrides that bound: "off" (cuBLASLt throughout) or a number of rows 1 .. 8 (comparisons).
#include <cstdint>

#include "backend/cuda/api.h"

namespace xlstm::cuda {

inline constexpr int64_t kGemvMaxRows = 8, kGemvDefaultRows = 3;

// The most rows Gemm::linear sends here: kGemvDefaultRows, or XLSTM_GEMV's.
int64_t gemv_row_limit();
// Reads XLSTM_GEMV and XLSTM_GEMV_M1 now (models call it when made, so that a bad value is an
// error there and not at the first GEMV of a request).
void read_gemv_settings();

// y_bf16 (optional): y rounded to bf16 as well (the residual stream's copy that the fused GEMVs
// read).
void gemv_bf16(const void* x, int64_t M, int64_t K, const void* W, int64_t N, const float* bias,
               float* y, bool accumulate, Stream s, void* y_bf16 = nullptr);

// Decode's GEMVs with their neighbours fused (M ≤ kGemvMaxRows). The input x [M, K] is the bf16
// copy of the residual stream (gemv_bf16's y_bf16), RMS-normalised as the GEMV reads it,
// r = rsqrt(mean(x²) + eps); the norm's weight is already folded into W (scale_columns):
//   y = (x · r) · Wᵀ (+ bias) (+ y), then cap · tanh(y / cap) where cap > 0;
//   act [M, F] (bf16) = SiLU(g) · u, g | u = (x · r) · Wᵀ (+ bias) for W [2F, K] (SwiGLU).
// False, with nothing launched, unless K % 8 = 0 and x and W are 16-byte aligned.
bool gemv_bf16_rms(const void* x, int64_t M, int64_t K, float eps, const void* W, int64_t N,
                   const float* bias, float* y, bool accumulate, float cap, Stream s);
bool gemv_bf16_rms_swiglu(const void* x, int64_t M, int64_t K, float eps, const void* W, int64_t F,
                          const float* bias, void* act, Stream s);

}  // namespace xlstm::cuda
