#pragma once
// Per-feature-block input math of the xLSTM blocks, 4 adjacent features at a time (float4): the
// 4-tap causal conv (the taps' transpose and the tap sums) and mLSTM v1's block-diagonal q, k, v
// projection of a block of 4. Shared by the conv and q/k/v kernels (family_ops.cu) and the mLSTM
// v1 decode kernel (decode_persistent_v1.cu), so that all compute the same sums. Device code.
#include "backend/cuda/common.cuh"

namespace xlstm::cuda {

// The 4 taps of features f..f+3 of a conv weight w [F, 4], as taps[j] = tap j of the 4 features.
__device__ __forceinline__ void load_taps4(const float* w, int64_t f, float4 (&taps)[4]) {
  float wf[4][4];
#pragma unroll
  for (int u = 0; u < 4; ++u) {
    const float4 r = load4(w + (f + u) * 4);
    wf[u][0] = r.x, wf[u][1] = r.y, wf[u][2] = r.z, wf[u][3] = r.w;
  }
#pragma unroll
  for (int j = 0; j < 4; ++j) taps[j] = make_float4(wf[0][j], wf[1][j], wf[2][j], wf[3][j]);
}

// acc += taps[j] ⊙ win[j] for j = 0..3 in order, then SiLU where silu.
__device__ __forceinline__ float4 conv4(float4 acc, const float4 (&taps)[4], const float4 (&win)[4],
                                        bool silu) {
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    acc.x += taps[j].x * win[j].x;
    acc.y += taps[j].y * win[j].y;
    acc.z += taps[j].z * win[j].z;
    acc.w += taps[j].w * win[j].w;
  }
  if (silu) {
    acc.x *= sigmoid(acc.x), acc.y *= sigmoid(acc.y);
    acc.z *= sigmoid(acc.z), acc.w *= sigmoid(acc.w);
  }
  return acc;
}

// out[u] = bias[f + u] + Σ_e in[e] · W[f + u, e] for u = 0..3, e in order (W [I, 4], the block
// of features f..f+3; bias may be null): the q/k/v kernels' sums. Loaded apart from the sums, so
// that a caller can ask for the weights before its input is there.
struct BlockProj4 {
  float4 w[4];
  float bias[4];
  __device__ __forceinline__ static BlockProj4 load(const float* W, const float* b, int64_t f) {
    BlockProj4 p;
#pragma unroll
    for (int u = 0; u < 4; ++u) {
      p.w[u] = load4(W + (f + u) * 4);
      p.bias[u] = b != nullptr ? b[f + u] : 0.0f;
    }
    return p;
  }
  __device__ __forceinline__ float4 operator()(float4 in) const {
    float out[4];
#pragma unroll
    for (int u = 0; u < 4; ++u) {
      float acc = bias[u];
      acc += in.x * w[u].x;
      acc += in.y * w[u].y;
      acc += in.z * w[u].z;
      acc += in.w * w[u].w;
      out[u] = acc;
    }
    return make_float4(out[0], out[1], out[2], out[3]);
  }
};

__device__ __forceinline__ float4 block_proj4(const float* W, const float* bias, int64_t f,
                                              float4 in) {
  return BlockProj4::load(W, bias, f)(in);
}

}  // namespace xlstm::cuda
