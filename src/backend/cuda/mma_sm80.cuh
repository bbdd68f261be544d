#pragma once
// Raw warp-level tensor-core pieces (sm_80+ PTX), for kernels that need the fragment layout in
// hand: mma.m16n8k16 (bf16 in, float32 accumulate), ldmatrix and 16-byte cp.async.
// Fragment layout of mma.m16n8k16.row.col, thread = lane, g = lane / 4, t = lane % 4:
//   A (16×16): a[0] (row g, k 2t..2t+1), a[1] (row g+8, same k), a[2] (row g, k 2t+8..),
//              a[3] (row g+8, k 2t+8..)
//   B (16×8):  b[0] (k 2t..2t+1, column g), b[1] (k 2t+8.., column g)
//   D (16×8):  d[0..1] (row g, columns 2t..2t+1), d[2..3] (row g+8, same columns)
#include <cuda_bf16.h>

#include <cstdint>

namespace xlstm::cuda {

__device__ __forceinline__ uint32_t pack_bf16(float lo_elem, float hi_elem) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo_elem, hi_elem);
  return *reinterpret_cast<const uint32_t*>(&v);
}

// d += a · b on one 16×16×8 tile.
__device__ __forceinline__ void mma_bf16(float (&d)[4], const uint32_t (&a)[4], uint32_t b0,
                                         uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
      "{%8, %9}, {%0, %1, %2, %3};"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// Four 8×8 bf16 matrices, transposed: lane i gives the address of row i % 8 of matrix i / 8
// (16 contiguous bytes); r[j] receives matrix j's elements (row 2t..2t+1, column g) as stored.
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const void* row) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(row)));
}

// 16 bytes global → shared, bypassing L1; completes at cp_async_wait.
__device__ __forceinline__ void cp_async16(void* dst_smem, const void* src) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(smem_addr(dst_smem)), "l"(src)
               : "memory");
}
__device__ __forceinline__ void cp_async_commit() {
  asm volatile("cp.async.commit_group;" ::: "memory");
}
// Waits until at most `pending` of this thread's committed groups are still in flight.
template <int pending>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;" ::"n"(pending) : "memory");
}

}  // namespace xlstm::cuda
