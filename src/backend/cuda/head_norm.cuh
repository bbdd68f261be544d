#pragma once
// The per-head LayerNorm of the cell output, its weight slice, then the output gate σ(o) (spec
// §1.4, §1.6) for one head, by all threads of a block (1-D or 2-D): float32 arithmetic, stored as
// Y. With a V1Skip (the mLSTM v1 block, spec §3.1): (LN(h)·w + skip ⊙ c) · o · σ(o) instead. Heads
// up to kHeadNormCache values per thread are held in registers, every load issued before the first
// use (decode's heads are latency-bound); wider heads are re-read. h is read through L2
// (__ldcg): the fused step's last block reads what other blocks wrote.
#include "backend/cuda/common.cuh"

namespace xlstm::cuda {

inline constexpr int kHeadNormCache = 4;

// The mLSTM v1 block's learnable skip and SiLU gate; skip == nullptr: the plain σ(o) gate.
struct V1Skip {
  const float* skip = nullptr;  // [DH] of this head
  const float* c = nullptr;     // [DH] the convolved input of this head and token
};

// One output: the normalized value (with weight and bias applied) through the gate.
__device__ __forceinline__ float gate_output(float normed, float o, const V1Skip& v1, int64_t d) {
  if (v1.skip == nullptr) return normed * sigmoid(o);
  return (normed + v1.skip[d] * v1.c[d]) * o * sigmoid(o);
}

template <typename Y>
__device__ void head_norm_gate(const float* h, int64_t DH, const float* __restrict__ w,
                               const float* __restrict__ b, float eps, const float* __restrict__ o,
                               Y* __restrict__ y, V1Skip v1 = {}) {
  const int64_t tid = threadIdx.x + threadIdx.y * blockDim.x, nt = blockDim.x * blockDim.y;
  const float inv = 1.0f / static_cast<float>(DH);
  if (DH <= kHeadNormCache * nt) {
    float v[kHeadNormCache], g[kHeadNormCache], wv[kHeadNormCache], bv[kHeadNormCache];
#pragma unroll
    for (int i = 0; i < kHeadNormCache; ++i) {
      const int64_t d = tid + i * nt;
      const bool in = d < DH;
      v[i] = in ? __ldcg(h + d) : 0.0f;
      g[i] = in ? o[d] : 0.0f;
      wv[i] = in ? w[d] : 0.0f;
      bv[i] = in && b != nullptr ? b[d] : 0.0f;
    }
    float sum = 0.0f;
#pragma unroll
    for (int i = 0; i < kHeadNormCache; ++i) sum += v[i];
    const float mean = block_sum(sum) * inv;
    float var = 0.0f;
#pragma unroll
    for (int i = 0; i < kHeadNormCache; ++i)
      if (tid + i * nt < DH) var += (v[i] - mean) * (v[i] - mean);
    const float r = 1.0f / sqrtf(block_sum(var) * inv + eps);
#pragma unroll
    for (int i = 0; i < kHeadNormCache; ++i) {
      const int64_t d = tid + i * nt;
      if (d < DH) store(y + d, gate_output((v[i] - mean) * r * wv[i] + bv[i], g[i], v1, d));
    }
    return;
  }
  float sum = 0.0f;
  for (int64_t d = tid; d < DH; d += nt) sum += __ldcg(h + d);
  const float mean = block_sum(sum) * inv;
  float var = 0.0f;
  for (int64_t d = tid; d < DH; d += nt) {
    const float c = __ldcg(h + d) - mean;
    var += c * c;
  }
  const float r = 1.0f / sqrtf(block_sum(var) * inv + eps);
  for (int64_t d = tid; d < DH; d += nt) {
    const float normed = (__ldcg(h + d) - mean) * r * w[d] + (b != nullptr ? b[d] : 0.0f);
    store(y + d, gate_output(normed, o[d], v1, d));
  }
}

}  // namespace xlstm::cuda
