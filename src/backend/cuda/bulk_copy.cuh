#pragma once
// Hopper (sm_90) shared-memory barriers and bulk copies: the pieces of a weight ring in which one
// thread streams global memory into shared memory with the copy engine (cp.async.bulk, no
// registers, no per-thread loads) and the consumers wait on a barrier that counts the bytes
// arriving. Every function is sm_90-only device code; callers compile it under
// __CUDA_ARCH__ >= 900.
#include <cstdint>

namespace xlstm::cuda {

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// A barrier in shared memory that completes a phase after `count` arrivals (and, for a copy
// barrier, the bytes announced by arrive_expect_tx).
__device__ __forceinline__ void mbar_init(uint64_t* bar, unsigned count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(smem_addr(bar)), "r"(count));
}
// Makes the initialised barriers visible to the copy engine (before the block's first barrier).
__device__ __forceinline__ void mbar_init_fence() {
  asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
}
__device__ __forceinline__ void mbar_arrive_expect_tx(uint64_t* bar, unsigned bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(smem_addr(bar)),
               "r"(bytes)
               : "memory");
}
__device__ __forceinline__ void mbar_arrive(uint64_t* bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" ::"r"(smem_addr(bar)) : "memory");
}
// Whether the phase with this parity (0, 1, 0, ... for successive phases) has completed (after
// a bounded wait in hardware).
__device__ __forceinline__ bool mbar_try_wait(uint64_t* bar, unsigned parity) {
  uint32_t done;
  asm volatile(
      "{\n .reg .pred p;\n mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n"
      " selp.u32 %0, 1, 0, p;\n}"
      : "=r"(done)
      : "r"(smem_addr(bar)), "r"(parity)
      : "memory");
  return done != 0;
}
__device__ __forceinline__ void mbar_wait(uint64_t* bar, unsigned parity) {
  while (!mbar_try_wait(bar, parity)) {
  }
}

// An L2 policy for data read once (streamed weights): evicted first, so that they do not push out
// the small activations and the state that the other blocks read.
__device__ __forceinline__ uint64_t l2_evict_first_policy() {
  uint64_t policy;
  asm volatile("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;" : "=l"(policy));
  return policy;
}

// bytes (a multiple of 16, both addresses 16-byte aligned) from global src to shared dst; the
// barrier's transaction count drops by bytes when they have landed.
__device__ __forceinline__ void bulk_copy_to_shared(void* dst, const void* src, unsigned bytes,
                                                    uint64_t* bar, uint64_t policy) {
  asm volatile(
      "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes.L2::cache_hint"
      " [%0], [%1], %2, [%3], %4;" ::"r"(smem_addr(dst)),
      "l"(src), "r"(bytes), "r"(smem_addr(bar)), "l"(policy)
      : "memory");
}

// A box of a 2-D tensor (tmap: a CUtensorMap in kernel parameter, constant or global memory) at
// coordinates (c0 innermost, c1) to shared dst (128-byte aligned), written densely row by row;
// elements outside the tensor land as zeros. The barrier's transaction count drops by the box's
// bytes (all of them, the zeros included).
__device__ __forceinline__ void bulk_tensor_2d_to_shared(void* dst, const void* tmap, int32_t c0,
                                                         int32_t c1, uint64_t* bar) {
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes"
      " [%0], [%1, {%2, %3}], [%4];" ::"r"(smem_addr(dst)),
      "l"(tmap), "r"(c0), "r"(c1), "r"(smem_addr(bar))
      : "memory");
}

// Asks L2 to fetch bytes (a multiple of 16, 16-byte aligned) from global memory; no completion.
__device__ __forceinline__ void prefetch_l2(const void* src, unsigned bytes) {
  asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(src), "r"(bytes) : "memory");
}

}  // namespace xlstm::cuda
