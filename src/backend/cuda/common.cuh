#pragma once
// Device helpers shared by the kernels: storage-type loads/stores, block reductions, gate math.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "backend/cuda/check.h"
#include "core/matrix.h"

namespace xlstm::cuda {

using bf16 = __nv_bfloat16;

// 16-byte vector loads and stores need it (host-side checks before taking a vector kernel).
inline bool aligned16(const void* p) {
  return reinterpret_cast<uintptr_t>(p) % 16 == 0;
}

__device__ __forceinline__ void store(float* p, float v) {
  *p = v;
}
__device__ __forceinline__ void store(bf16* p, float v) {
  *p = __float2bfloat16(v);  // round to nearest even, as f32_to_bf16 on the host
}
__device__ __forceinline__ float load(const float* p) {
  return *p;
}
__device__ __forceinline__ float load(const bf16* p) {
  return __bfloat162float(*p);
}

// Four adjacent values as a float4: float32 memory 16-byte aligned, bf16 memory 8-byte aligned
// (stores round to nearest even).
__device__ __forceinline__ float4 load4(const float* p) {
  return *reinterpret_cast<const float4*>(p);
}
__device__ __forceinline__ float4 load4(const bf16* p) {
  const uint2 u = *reinterpret_cast<const uint2*>(p);
  const float2 a = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&u.x));
  const float2 b = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&u.y));
  return make_float4(a.x, a.y, b.x, b.y);
}
__device__ __forceinline__ void store4(float* p, float4 v) {
  *reinterpret_cast<float4*>(p) = v;
}
__device__ __forceinline__ void store4(bf16* p, float4 v) {
  uint2 u;
  *reinterpret_cast<__nv_bfloat162*>(&u.x) = __floats2bfloat162_rn(v.x, v.y);
  *reinterpret_cast<__nv_bfloat162*>(&u.y) = __floats2bfloat162_rn(v.z, v.w);
  *reinterpret_cast<uint2*>(p) = u;
}

__device__ __forceinline__ float sigmoid(float x) {
  return 1.0f / (1.0f + expf(-x));
}
// log σ(x) = min(x, 0) − log1p(exp(−|x|)), as the CPU's log_sigmoid.
__device__ __forceinline__ float log_sigmoid(float x) {
  return fminf(x, 0.0f) - log1pf(expf(-fabsf(x)));
}

// The mLSTM cell's update of four adjacent columns of one row of C: c' = f·c + (i·k)·v, and
// acc += q̂·c' (the readout's partial sums); returns c'.
__device__ __forceinline__ float4 update4(float4 c, float f, float ik, float4 v, float qs,
                                          float4& acc) {
  c.x = f * c.x + ik * v.x;
  c.y = f * c.y + ik * v.y;
  c.z = f * c.z + ik * v.z;
  c.w = f * c.w + ik * v.w;
  acc.x += qs * c.x, acc.y += qs * c.y, acc.z += qs * c.z, acc.w += qs * c.w;
  return c;
}

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Sum over the block (1-D or 2-D; its thread count a multiple of 32, ≤ 1024); every thread gets
// the total.
__device__ __forceinline__ float block_sum(float v) {
  __shared__ float partial[32];
  __shared__ float total;
  v = warp_sum(v);
  const int tid = static_cast<int>(threadIdx.x + threadIdx.y * blockDim.x);
  const int warp = tid / 32, lane = tid % 32;
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  if (warp == 0) {
    float w = lane < static_cast<int>(blockDim.x * blockDim.y / 32) ? partial[lane] : 0.0f;
    w = warp_sum(w);
    if (lane == 0) total = w;
  }
  __syncthreads();
  const float out = total;
  __syncthreads();  // partial/total may be reused by the next call
  return out;
}

// Programmatic dependent launch (sm_90+; no-ops elsewhere). A kernel that calls
// allow_dependent_launch() lets the next kernel, if launched with programmatic stream
// serialization, start before it ends; that kernel calls wait_for_preceding_kernel() before it
// reads what this one writes.
__device__ __forceinline__ void allow_dependent_launch() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}
__device__ __forceinline__ void wait_for_preceding_kernel() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

// Threads for a block that holds a row of n values in registers, per_thread each: a whole number
// of warps, at least one, at most 1024 (the caller checks n ≤ 1024·per_thread).
inline unsigned threads_for_row(int64_t n, int per_thread) {
  const int64_t warps = ((n + per_thread - 1) / per_thread + 31) / 32;
  return static_cast<unsigned>(std::clamp<int64_t>(warps, 1, 32) * 32);
}

inline unsigned blocks_for(int64_t n, int threads) {
  return static_cast<unsigned>((n + threads - 1) / threads);
}

}  // namespace xlstm::cuda
