// Per-head LayerNorm of the cell output, its flat weight, then the output gate σ(o) (spec §1.4,
// §1.6), fused: one block per (token, head) running head_norm_gate (head_norm.cuh); float32
// arithmetic, stored as y's type. Decode fuses the same into the step kernel (mlstm_step.cu).
#include "backend/cuda/common.cuh"
#include "backend/cuda/head_norm.cuh"
#include "backend/cuda/ops.h"

namespace xlstm::cuda {

namespace {

// One block per (token, head), a whole number of warps with up to kHeadNormCache values each.
template <typename T>
__global__ void multihead_norm_gate_kernel(const float* __restrict__ h, int64_t NH, int64_t DH,
                                           const float* __restrict__ w, const float* __restrict__ b,
                                           float eps, const float* __restrict__ o, int64_t o_stride,
                                           T* __restrict__ y) {
  allow_dependent_launch();  // the next GEMV may start streaming its weights
  const int64_t t = blockIdx.x / NH, head = blockIdx.x % NH, off = t * NH * DH + head * DH;
  head_norm_gate(h + off, DH, w + head * DH, b != nullptr ? b + head * DH : nullptr, eps,
                 o + t * o_stride + head * DH, y + off);
}

template <typename T>
void launch_multihead_norm_gate(const float* h, int64_t T_, int64_t NH, int64_t DH, const float* w,
                                const float* b, float eps, const float* o, int64_t o_stride, T* y,
                                Stream s) {
  const unsigned threads =
      threads_for_row(std::min<int64_t>(DH, kHeadNormCache * 1024), kHeadNormCache);
  multihead_norm_gate_kernel<T>
      <<<static_cast<unsigned>(T_ * NH), threads, 0, s>>>(h, NH, DH, w, b, eps, o, o_stride, y);
  XLSTM_CUDA_CHECK_LAUNCH();
}

}  // namespace

void multihead_norm_gate(const float* h, int64_t T, int64_t NH, int64_t DH, const float* w,
                         const float* b, float eps, const float* o, int64_t o_stride, void* y,
                         WeightType y_type, Stream s) {
  if (T * NH == 0) return;
  if (y_type == WeightType::BF16) {
    launch_multihead_norm_gate(h, T, NH, DH, w, b, eps, o, o_stride, static_cast<bf16*>(y), s);
  } else {
    launch_multihead_norm_gate(h, T, NH, DH, w, b, eps, o, o_stride, static_cast<float*>(y), s);
  }
}

}  // namespace xlstm::cuda
