// RMSNorm over the last dim (spec §1.6), one block per row; float32 arithmetic, stored as y's type.
#include "backend/cuda/common.cuh"
#include "backend/cuda/ops.h"

namespace xlstm::cuda {

namespace {

constexpr int kThreads = 256;

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
    store(yr + d, xr[d] * r * w[d] + (b != nullptr ? b[d] : 0.0f));
  }
}

}  // namespace

void rms_norm(const float* x, int64_t T, int64_t D, int64_t x_stride, const float* w,
              const float* b, float eps, void* y, WeightType y_type, Stream s) {
  if (T == 0) return;
  if (y_type == WeightType::BF16) {
    rms_norm_kernel<<<static_cast<unsigned>(T), kThreads, 0, s>>>(x, D, x_stride, w, b, eps,
                                                                  static_cast<bf16*>(y));
  } else {
    rms_norm_kernel<<<static_cast<unsigned>(T), kThreads, 0, s>>>(x, D, x_stride, w, b, eps,
                                                                  static_cast<float*>(y));
  }
  XLSTM_CUDA_CHECK_LAUNCH();
}

}  // namespace xlstm::cuda
