// SwiGLU of the feed-forward block (spec §1.4): act = SiLU(gate) · up, float32 arithmetic.
#include "backend/cuda/common.cuh"
#include "backend/cuda/ops.h"

namespace xlstm::cuda {

namespace {

template <typename T>
__global__ void swiglu_kernel(const float* gate_up, int64_t T_, int64_t F, T* act) {
  const int64_t n = T_ * F;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t t = i / F, j = i % F;
    const float g = gate_up[t * 2 * F + j], u = gate_up[t * 2 * F + F + j];
    store(act + i, g * sigmoid(g) * u);
  }
}

}  // namespace

void swiglu(const float* gate_up, int64_t T, int64_t F, void* act, WeightType act_type, Stream s) {
  const int64_t n = T * F;
  if (n == 0) return;
  const unsigned grid = std::min<unsigned>(blocks_for(n, 256), 65535u);
  if (act_type == WeightType::BF16) {
    swiglu_kernel<<<grid, 256, 0, s>>>(gate_up, T, F, static_cast<bf16*>(act));
  } else {
    swiglu_kernel<<<grid, 256, 0, s>>>(gate_up, T, F, static_cast<float*>(act));
  }
  XLSTM_CUDA_CHECK_LAUNCH();
}

}  // namespace xlstm::cuda
