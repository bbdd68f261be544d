// RMSNorm over the last dim (spec §1.6), one block per row; float32 arithmetic, stored as y's type.
// Rows up to kPerThread·1024 wide are held in registers: every load of the row is issued before
// the first use (a decode step's few rows are latency-bound, not bandwidth-bound).
#include "backend/cuda/common.cuh"
#include "backend/cuda/ops.h"

namespace xlstm::cuda {

namespace {

constexpr int kThreads = 256, kPerThread = 8;

template <typename T>
__global__ void rms_norm_cached_kernel(const float* __restrict__ x, int64_t D, int64_t x_stride,
                                       const float* __restrict__ w, const float* __restrict__ b,
                                       float eps, T* __restrict__ y) {
  allow_dependent_launch();  // the next GEMV may start streaming its weights
  const float* xr = x + blockIdx.x * x_stride;
  T* yr = y + blockIdx.x * D;
  float v[kPerThread], wv[kPerThread], bv[kPerThread];  // the weights too: one round trip
#pragma unroll
  for (int i = 0; i < kPerThread; ++i) {
    const int64_t d = threadIdx.x + static_cast<int64_t>(i) * blockDim.x;
    v[i] = d < D ? xr[d] : 0.0f;
    wv[i] = d < D ? (w != nullptr ? w[d] : 1.0f) : 0.0f;
    bv[i] = d < D && b != nullptr ? b[d] : 0.0f;
  }
  float ss = 0.0f;
#pragma unroll
  for (int i = 0; i < kPerThread; ++i) ss += v[i] * v[i];
  ss = block_sum(ss);
  const float r = 1.0f / sqrtf(ss / static_cast<float>(D) + eps);
#pragma unroll
  for (int i = 0; i < kPerThread; ++i) {
    const int64_t d = threadIdx.x + static_cast<int64_t>(i) * blockDim.x;
    if (d < D) store(yr + d, v[i] * r * wv[i] + bv[i]);
  }
}

template <typename T>
__global__ void rms_norm_kernel(const float* x, int64_t D, int64_t x_stride, const float* w,
                                const float* b, float eps, T* y) {
  const float* xr = x + blockIdx.x * x_stride;
  T* yr = y + blockIdx.x * D;
  float ss = 0.0f;
  for (int64_t d = threadIdx.x; d < D; d += blockDim.x) ss += xr[d] * xr[d];
  ss = block_sum(ss);
  const float r = 1.0f / sqrtf(ss / static_cast<float>(D) + eps);
  for (int64_t d = threadIdx.x; d < D; d += blockDim.x) {
    store(yr + d, xr[d] * r * (w != nullptr ? w[d] : 1.0f) + (b != nullptr ? b[d] : 0.0f));
  }
}

template <typename T>
void launch_rms_norm(const float* x, int64_t rows, int64_t D, int64_t x_stride, const float* w,
                     const float* b, float eps, T* y, Stream s) {
  const auto grid = static_cast<unsigned>(rows);
  if (D <= int64_t{kPerThread} * 1024) {
    rms_norm_cached_kernel<<<grid, threads_for_row(D, kPerThread), 0, s>>>(x, D, x_stride, w, b,
                                                                           eps, y);
  } else {
    rms_norm_kernel<<<grid, kThreads, 0, s>>>(x, D, x_stride, w, b, eps, y);
  }
  XLSTM_CUDA_CHECK_LAUNCH();
}

}  // namespace

void rms_norm(const float* x, int64_t T, int64_t D, int64_t x_stride, const float* w,
              const float* b, float eps, void* y, WeightType y_type, Stream s) {
  if (T == 0) return;
  if (y_type == WeightType::BF16) {
    launch_rms_norm(x, T, D, x_stride, w, b, eps, static_cast<bf16*>(y), s);
  } else {
    launch_rms_norm(x, T, D, x_stride, w, b, eps, static_cast<float*>(y), s);
  }
}

}  // namespace xlstm::cuda
