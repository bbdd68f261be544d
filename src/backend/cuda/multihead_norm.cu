// Per-head LayerNorm of the cell output, its flat weight, then the output gate σ(o) (spec §1.4,
// §1.6), fused: one block per (token, head); float32 arithmetic, stored as y's type.
#include "backend/cuda/common.cuh"
#include "backend/cuda/ops.h"

namespace xlstm::cuda {

namespace {

constexpr int kThreads = 128;

template <typename T>
__global__ void multihead_norm_gate_kernel(const float* h, int64_t NH, int64_t DH, const float* w,
                                           const float* b, float eps, const float* o,
                                           int64_t o_stride, T* y) {
  const int64_t t = blockIdx.x / NH, head = blockIdx.x % NH;
  const int64_t off = t * NH * DH + head * DH;
  const float* xr = h + off;
  float sum = 0.0f;
  for (int64_t d = threadIdx.x; d < DH; d += blockDim.x) sum += xr[d];
  const float mean = block_sum(sum) / static_cast<float>(DH);
  float var = 0.0f;
  for (int64_t d = threadIdx.x; d < DH; d += blockDim.x) var += (xr[d] - mean) * (xr[d] - mean);
  var = block_sum(var) / static_cast<float>(DH);
  const float r = 1.0f / sqrtf(var + eps);
  const float* orow = o + t * o_stride + head * DH;
  for (int64_t d = threadIdx.x; d < DH; d += blockDim.x) {
    const int64_t j = head * DH + d;
    const float normed = (xr[d] - mean) * r * w[j] + (b != nullptr ? b[j] : 0.0f);
    store(y + off + d, normed * sigmoid(orow[d]));
  }
}

}  // namespace

void multihead_norm_gate(const float* h, int64_t T, int64_t NH, int64_t DH, const float* w,
                         const float* b, float eps, const float* o, int64_t o_stride, void* y,
                         WeightType y_type, Stream s) {
  if (T * NH == 0) return;
  const auto grid = static_cast<unsigned>(T * NH);
  if (y_type == WeightType::BF16) {
    multihead_norm_gate_kernel<<<grid, kThreads, 0, s>>>(h, NH, DH, w, b, eps, o, o_stride,
                                                         static_cast<bf16*>(y));
  } else {
    multihead_norm_gate_kernel<<<grid, kThreads, 0, s>>>(h, NH, DH, w, b, eps, o, o_stride,
                                                         static_cast<float*>(y));
  }
  XLSTM_CUDA_CHECK_LAUNCH();
}

}  // namespace xlstm::cuda
