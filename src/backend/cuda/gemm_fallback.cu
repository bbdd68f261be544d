// y[M, N] = x[M, K] · W[N, K]ᵀ (+ bias) (+ y): 16×16 output tiles, K in slices of 16 through
// shared memory, float32 accumulation. Only for shapes cuBLASLt declines (see gemm_cublaslt.cpp).
#include "backend/cuda/common.cuh"
#include "backend/cuda/gemm_fallback.h"

namespace xlstm::cuda {

namespace {

constexpr int kT = 16;

template <typename T>
__global__ void gemm_kernel(const T* x, int64_t M, int64_t K, const T* W, int64_t N,
                            const float* bias, float* y, bool accumulate) {
  __shared__ float xs[kT][kT + 1], ws[kT][kT + 1];
  const int64_t m = blockIdx.y * kT + threadIdx.y, n = blockIdx.x * kT + threadIdx.x;
  float acc = 0.0f;
  for (int64_t k0 = 0; k0 < K; k0 += kT) {
    const int64_t kx = k0 + threadIdx.x;
    xs[threadIdx.y][threadIdx.x] = m < M && kx < K ? load(x + m * K + kx) : 0.0f;
    const int64_t wn = blockIdx.x * kT + threadIdx.y;
    ws[threadIdx.y][threadIdx.x] = wn < N && kx < K ? load(W + wn * K + kx) : 0.0f;
    __syncthreads();
    for (int k = 0; k < kT; ++k) acc += xs[threadIdx.y][k] * ws[threadIdx.x][k];
    __syncthreads();
  }
  if (m < M && n < N) {
    float v = acc + (bias != nullptr ? bias[n] : 0.0f);
    if (accumulate) v += y[m * N + n];
    y[m * N + n] = v;
  }
}

}  // namespace

void gemm_fallback(const void* x, int64_t M, int64_t K, const void* W, int64_t N, WeightType type,
                   const float* bias, float* y, bool accumulate, Stream s) {
  const dim3 grid(blocks_for(N, kT), blocks_for(M, kT)), block(kT, kT);
  if (type == WeightType::BF16) {
    gemm_kernel<<<grid, block, 0, s>>>(static_cast<const bf16*>(x), M, K,
                                       static_cast<const bf16*>(W), N, bias, y, accumulate);
  } else {
    gemm_kernel<<<grid, block, 0, s>>>(static_cast<const float*>(x), M, K,
                                       static_cast<const float*>(W), N, bias, y, accumulate);
  }
  XLSTM_CUDA_CHECK_LAUNCH();
}

}  // namespace xlstm::cuda
