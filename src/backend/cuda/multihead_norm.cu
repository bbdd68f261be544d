// Per-head LayerNorm of the cell output, its flat weight, then the output gate σ(o) (spec §1.4,
// §1.6), fused: one block per (token, head); float32 arithmetic, stored as y's type.
#include "backend/cuda/common.cuh"
#include "backend/cuda/ops.h"

namespace xlstm::cuda {

namespace {

constexpr int kThreads = 128, kPerThread = 4;

// Heads up to kPerThread·1024 wide keep h, o and the norm weights in registers, loaded before the
// first use (decode's few rows are latency-bound); wider heads re-read them.
template <typename T, bool kCached>
__global__ void multihead_norm_gate_kernel(const float* __restrict__ h, int64_t NH, int64_t DH,
                                           const float* __restrict__ w, const float* __restrict__ b,
                                           float eps, const float* __restrict__ o, int64_t o_stride,
                                           T* __restrict__ y) {
  allow_dependent_launch();  // the next GEMV may start streaming its weights
  const int64_t t = blockIdx.x / NH, head = blockIdx.x % NH;
  const int64_t off = t * NH * DH + head * DH;
  const float* xr = h + off;
  const float* orow = o + t * o_stride + head * DH;
  if constexpr (kCached) {
    float v[kPerThread], g[kPerThread], wv[kPerThread], bv[kPerThread];
#pragma unroll
    for (int i = 0; i < kPerThread; ++i) {
      const int64_t d = threadIdx.x + static_cast<int64_t>(i) * blockDim.x, j = head * DH + d;
      v[i] = d < DH ? xr[d] : 0.0f;
      g[i] = d < DH ? orow[d] : 0.0f;
      wv[i] = d < DH ? w[j] : 0.0f;
      bv[i] = d < DH && b != nullptr ? b[j] : 0.0f;
    }
    float sum = 0.0f;
#pragma unroll
    for (int i = 0; i < kPerThread; ++i) sum += v[i];
    const float mean = block_sum(sum) / static_cast<float>(DH);
    float var = 0.0f;
#pragma unroll
    for (int i = 0; i < kPerThread; ++i) {
      const int64_t d = threadIdx.x + static_cast<int64_t>(i) * blockDim.x;
      if (d < DH) var += (v[i] - mean) * (v[i] - mean);
    }
    var = block_sum(var) / static_cast<float>(DH);
    const float r = 1.0f / sqrtf(var + eps);
#pragma unroll
    for (int i = 0; i < kPerThread; ++i) {
      const int64_t d = threadIdx.x + static_cast<int64_t>(i) * blockDim.x;
      if (d < DH) store(y + off + d, ((v[i] - mean) * r * wv[i] + bv[i]) * sigmoid(g[i]));
    }
    return;
  }
  float sum = 0.0f;
  for (int64_t d = threadIdx.x; d < DH; d += blockDim.x) sum += xr[d];
  const float mean = block_sum(sum) / static_cast<float>(DH);
  float var = 0.0f;
  for (int64_t d = threadIdx.x; d < DH; d += blockDim.x) var += (xr[d] - mean) * (xr[d] - mean);
  var = block_sum(var) / static_cast<float>(DH);
  const float r = 1.0f / sqrtf(var + eps);
  for (int64_t d = threadIdx.x; d < DH; d += blockDim.x) {
    const int64_t j = head * DH + d;
    const float normed = (xr[d] - mean) * r * w[j] + (b != nullptr ? b[j] : 0.0f);
    store(y + off + d, normed * sigmoid(orow[d]));
  }
}

template <typename T>
void launch_multihead_norm_gate(const float* h, int64_t T_, int64_t NH, int64_t DH, const float* w,
                                const float* b, float eps, const float* o, int64_t o_stride, T* y,
                                Stream s) {
  const auto grid = static_cast<unsigned>(T_ * NH);
  if (DH <= int64_t{kPerThread} * 1024) {
    const unsigned threads = threads_for_row(DH, kPerThread);
    multihead_norm_gate_kernel<T, true>
        <<<grid, threads, 0, s>>>(h, NH, DH, w, b, eps, o, o_stride, y);
  } else {
    multihead_norm_gate_kernel<T, false>
        <<<grid, kThreads, 0, s>>>(h, NH, DH, w, b, eps, o, o_stride, y);
  }
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
