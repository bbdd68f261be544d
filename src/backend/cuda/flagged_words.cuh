#pragma once
// Flagged words: how the blocks of a persistent kernel pass vectors to each other without a grid
// barrier. Each value travels as one 8-byte word {32-bit value, 32-bit flag}, written and read
// whole (single-copy atomic): a reader that sees the flag it waits for has the value, with no
// fence. The flag names the phase that wrote the word, and the words are cleared before each
// launch, so that an earlier step's words never match. (The idea of NCCL's low-latency protocol,
// hence "ll".) Device code.
//
// The accesses are .relaxed.gpu (strong), not weak. A weak load, even with the .cv cache
// operator, may be assumed by ptxas to return the same value when repeated with no
// synchronization in between: it compiled `while (!ll_has(w, flag)) w = ll_load(p);` in the
// persistent decode's cell (the gates) into a single reload, so a word that arrived later was
// used with its old contents (the timing-dependent results of issue 13, section 4). Relaxed
// loads must observe other threads' stores eventually, so every spin loop stays a loop; and the
// memory model gives strong accesses single-copy atomicity, which the word format relies on.
#include <cuda_runtime.h>

#include <cstdint>

namespace xlstm::cuda {

__device__ __forceinline__ void ll_store(uint64_t* p, uint32_t bits, uint32_t flag) {
  const uint64_t w = (static_cast<uint64_t>(flag) << 32) | bits;
  asm volatile("st.relaxed.gpu.global.u64 [%0], %1;" ::"l"(p), "l"(w) : "memory");
}
__device__ __forceinline__ uint64_t ll_load(const uint64_t* p) {
  uint64_t v;
  asm volatile("ld.relaxed.gpu.global.u64 %0, [%1];" : "=l"(v) : "l"(p) : "memory");
  return v;
}
__device__ __forceinline__ ulonglong2 ll_load2(const uint64_t* p) {
  ulonglong2 v;
  asm volatile("ld.relaxed.gpu.global.v2.u64 {%0, %1}, [%2];"
               : "=l"(v.x), "=l"(v.y)
               : "l"(p)
               : "memory");
  return v;
}
__device__ __forceinline__ bool ll_has(uint64_t w, uint32_t flag) {
  return static_cast<uint32_t>(w >> 32) == flag;
}
__device__ __forceinline__ bool ll_has(const ulonglong2& w, uint32_t flag) {
  return ll_has(w.x, flag) && ll_has(w.y, flag);
}
__device__ __forceinline__ float ll_float(uint64_t w) {
  return __uint_as_float(static_cast<uint32_t>(w));
}

struct NoSpin {
  __device__ void operator()() const {}
};

// Waits for words [0, n) of ll (n even, 16-byte aligned) to carry flag and hands each value's
// bits to put(i, bits); threads 0 .. kThreads − 1 share the words, kPer pairs each in flight.
// spin() runs after each round that found a word missing (a watchdog, say).
template <int kThreads, typename Put, typename Spin = NoSpin>
__device__ void ll_read(const uint64_t* ll, int64_t n, uint32_t flag, Put put, Spin spin = {}) {
  constexpr int kPer = 8;
  const int64_t pairs = n / 2;
  for (int64_t base = threadIdx.x; base < pairs; base += kThreads * kPer) {
    ulonglong2 v[kPer];
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      const int64_t p = base + i * kThreads;
      v[i] = p < pairs ? ll_load2(ll + 2 * p) : make_ulonglong2(0, 0);
    }
    bool all;
    do {
      all = true;
#pragma unroll
      for (int i = 0; i < kPer; ++i) {
        const int64_t p = base + i * kThreads;
        if (p < pairs && !ll_has(v[i], flag)) {
          v[i] = ll_load2(ll + 2 * p);
          all = false;
        }
      }
      if (!all) spin();
    } while (!all);
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      const int64_t p = base + i * kThreads;
      if (p < pairs) {
        put(2 * p, static_cast<uint32_t>(v[i].x));
        put(2 * p + 1, static_cast<uint32_t>(v[i].y));
      }
    }
  }
}

}  // namespace xlstm::cuda
