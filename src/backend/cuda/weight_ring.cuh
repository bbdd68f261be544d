#pragma once
// The weight ring of the persistent decode kernels (decode_persistent.cu for xLSTM Large,
// decode_persistent_v1.cu for runs of mLSTM v1 blocks): one producer thread per block streams
// that block's slices of each phase's weight matrix, phase after phase, into a ring of
// shared-memory stages with the copy engine (cp.async.bulk); 8 consumer warps take the stages in
// the same order and compute the rows' dot products with a bf16 input vector in shared memory.
// The stream never waits for the data, only the consumers do; while they wait on other blocks
// (a compute phase), the producer fills the ring with the next phase's weights.
//
// A kernel describes its stream as a Plan: `Slice slice(int64_t phase) const` (W = null past the
// end) and `void producer_phase(int64_t phase) const` (a hook: traces, stress-test pauses). Every
// phase that has a slice must be consumed (consume<>) by every consumer warp, in phase order,
// whether or not the block has rows in it: the ring's stages stay in step. sm_90 device code;
// include it under __CUDA_ARCH__ >= 900 (bulk_copy.cuh).
#include "backend/cuda/bulk_copy.cuh"
#include "backend/cuda/common.cuh"

namespace xlstm::cuda::ring {

constexpr int kConsumerWarps = 8, kConsumers = kConsumerWarps * 32, kThreads = kConsumers + 32;
constexpr int kStages = 6;
constexpr int64_t kStageBytes = 32 * 1024;

// Copies in flight per block (2 of 2, 3, 4, 6 measured best) and static stages prefetched into
// L2 beyond the ring while it is full (6: 25 MB over 132 blocks, half of L2; 0, 3, 9, 12 were
// measured).
#ifndef XLSTM_PD_INFLIGHT
#define XLSTM_PD_INFLIGHT 2
#endif
#ifndef XLSTM_PD_PREFETCH
#define XLSTM_PD_PREFETCH 6
#endif
constexpr uint32_t kInFlight = XLSTM_PD_INFLIGHT, kPrefetch = XLSTM_PD_PREFETCH;

// Phase i's units of a matrix W [.., K] (a unit: row u, and with pair ≠ 0 also row u + pair,
// SwiGLU's up row): this block's static share [r0, r1) of the first N − N / kPoolShare units,
// then, where the phase has a pool, the last units claimed a stage at a time by whichever block
// gets there (claim: a counter in the cleared workspace). The blocks' copies stream at rates
// that vary at random by a few per cent, and every block waits for the slowest at the phase's
// end; the pool lets the faster ones take up the slack.
// 1 / kPoolShare of a pooled phase's units (4 of 4, 6, 8, 16 measured best).
#ifndef XLSTM_PD_POOL
#define XLSTM_PD_POOL 4
#endif
constexpr int64_t kPoolShare = XLSTM_PD_POOL;

struct Slice {
  const bf16* W;
  int64_t K, r0, r1, pair, pool0, N;
  unsigned* claim;  // null: no pool (the residual phases: a block owns its rows of x)
  // K = 0: a tensor phase (W, not null, only marks that the stream goes on): units [r0, r1) are
  // boxes of a tensor, each a stage, which the plan describes (Plan::box); not part of the static
  // weight stream (no L2 look-ahead, no pool). A flag in K, not fields of its own: the producer
  // keeps two slices in registers, and the kernels are at their register ceiling.
  __device__ bool is_tensor() const { return K == 0; }
  __device__ int64_t per_stage() const {  // not of a tensor phase
    return kStageBytes / (K * 2 * (pair != 0 ? 2 : 1));
  }
};

// A box of a tensor phase: the 2-D box at (c0, c1) of the CUtensorMap at tmap, bytes in all.
struct Box {
  const void* tmap;
  int32_t c0, c1;
  uint32_t bytes;
};

// Block b's static share of the first N − N / pool_share units, the rest pooled where claim is
// given.
__device__ inline Slice block_slice(const void* W, int64_t K, int64_t N, int64_t pair,
                                    unsigned* claim, int64_t pool_share = kPoolShare) {
  const int64_t G = gridDim.x, b = blockIdx.x;
  const int64_t Ns = claim != nullptr ? N - N / pool_share : N;
  return {static_cast<const bf16*>(W), K, b * Ns / G, (b + 1) * Ns / G, pair, Ns, N, claim};
}

// What a ring stage holds: units [u0, u0 + n) of the current phase; n = 0 marks its end.
struct StageMeta {
  int32_t u0, n;
};

struct Ring {
  uint64_t* full;   // [kStages] the copy engine fills a stage
  uint64_t* empty;  // [kStages] each consumer warp is done with it
  StageMeta* meta;  // [kStages]
  char* stages;
  uint32_t k = 0;  // stages used so far (the producer and every consumer count alike)
};

// Whether a plan has tensor phases (then it describes their boxes: Box box(phase, u)).
template <typename Plan>
constexpr bool has_tensor_phases = requires(const Plan& p) {
  p.box(int64_t{0}, int64_t{0});
};

// A position in the static part of the stream (the L2 prefetches run ahead on it).
template <typename Plan>
struct StageCursor {
  const Plan* plan;
  int64_t phase = 0, u = 0;
  Slice s{};
  __device__ explicit StageCursor(const Plan& p) : plan(&p) {
    const Slice s0 = p.slice(0);
    seek(0, s0, s0.r0);
  }
  __device__ bool done() const { return s.W == nullptr; }
  __device__ int64_t units() const { return min(s.per_stage(), s.r1 - u); }
  __device__ unsigned bytes() const { return static_cast<unsigned>(units() * s.K * 2); }
  __device__ const bf16* src() const { return s.W + u * s.K; }
  __device__ const bf16* pair_src() const { return s.W + (u + s.pair) * s.K; }
  __device__ void next() { seek(phase, s, u + units()); }
  // At unit `at` of slice sl (phase ph), or the first static unit after it.
  __device__ void seek(int64_t ph, const Slice& sl, int64_t at) {
    phase = ph, s = sl, u = at;
    while (s.W != nullptr && (u >= s.r1 || (has_tensor_phases<Plan> && s.is_tensor()))) {
      s = plan->slice(++phase);
      u = s.r0;
    }
  }
};

// The producer's depths: copies in flight (1 .. kStages) and static stages prefetched into L2
// beyond the ring (the build's kInFlight and kPrefetch unless a kernel takes them at run time).
struct RingDepths {
  uint32_t in_flight = kInFlight, prefetch = kPrefetch;
};

// One thread: the stages of every phase into the ring, in order: the block's static share, then
// pool stages while the pool lasts, then the end marker. At most in_flight copies are
// outstanding: more would not stream faster, only queue in the memory system and delay every
// other access (the cell's state, the words the blocks pass each other). When the ring is full
// (the consumers wait on the other blocks), the memory is kept busy by asking L2 for the next
// static stages, up to prefetch ahead, so that their copies then hit L2.
template <typename Plan>
struct Producer {
  const Plan& plan;
  Ring& ring;
  uint64_t policy;
  StageCursor<Plan> ahead;
  RingDepths depths;
  uint32_t k = 0, sk = 0, ahead_sk = 0;  // stages issued; static ones issued, prefetched

  __device__ Producer(const Plan& p, Ring& r, RingDepths d)
      : plan(p), ring(r), policy(l2_evict_first_policy()), ahead(p), depths(d) {}

  __device__ uint32_t take_slot() {
    const uint32_t slot = k % kStages, use = k / kStages;
    if (use > 0) {
      while (!mbar_try_wait(&ring.empty[slot], (use - 1) & 1)) {
        if (ahead_sk < sk + depths.prefetch && !ahead.done()) {
          prefetch_l2(ahead.src(), ahead.bytes());
          if (ahead.s.pair != 0) prefetch_l2(ahead.pair_src(), ahead.bytes());
          ahead.next(), ++ahead_sk;
        }
      }
    }
    return slot;
  }
  // At most depths.in_flight copies outstanding once this one is issued.
  __device__ __forceinline__ void wait_in_flight() {
    if (k >= depths.in_flight) {
      const uint32_t done = k - depths.in_flight;
      mbar_wait(&ring.full[done % kStages], (done / kStages) & 1);
    }
  }
  __device__ void copy(const Slice& s, int64_t u, int64_t n) {
    const uint32_t slot = take_slot();
    wait_in_flight();
    ring.meta[slot] = {static_cast<int32_t>(u), static_cast<int32_t>(n)};
    char* dst = ring.stages + slot * kStageBytes;
    const auto bytes = static_cast<unsigned>(n * s.K * 2);
    mbar_arrive_expect_tx(&ring.full[slot], s.pair != 0 ? 2 * bytes : bytes);
    bulk_copy_to_shared(dst, s.W + u * s.K, bytes, &ring.full[slot], policy);
    if (s.pair != 0)
      bulk_copy_to_shared(dst + bytes, s.W + (u + s.pair) * s.K, bytes, &ring.full[slot], policy);
    ++k;
  }
  __device__ void copy_box(int64_t u, const Box& b) {
    const uint32_t slot = take_slot();
    wait_in_flight();
    ring.meta[slot] = {static_cast<int32_t>(u), 1};
    mbar_arrive_expect_tx(&ring.full[slot], b.bytes);
    bulk_tensor_2d_to_shared(ring.stages + slot * kStageBytes, b.tmap, b.c0, b.c1,
                             &ring.full[slot]);
    ++k;
  }
  __device__ void end_marker() {
    const uint32_t slot = take_slot();
    ring.meta[slot] = {0, 0};
    mbar_arrive(&ring.full[slot]);
    ++k;
  }
  __device__ void run() {
    for (int64_t phase = 0;; ++phase) {
      const Slice s = plan.slice(phase);
      if (s.W == nullptr) return;
      if constexpr (has_tensor_phases<Plan>) {
        if (s.is_tensor()) {
          plan.producer_phase(phase);
          for (int64_t u = s.r0; u < s.r1; ++u) copy_box(u, plan.box(phase, u));
          end_marker();
          continue;
        }
      }
      const int64_t per = s.per_stage();
      plan.producer_phase(phase);
      for (int64_t u = s.r0; u < s.r1; u += per, ++sk) {
        if (ahead_sk < sk) ahead.seek(phase, s, u), ahead_sk = sk;
        copy(s, u, min(per, s.r1 - u));
      }
      if (s.claim != nullptr) {
        for (int64_t u; (u = s.pool0 + atomicAdd(s.claim, static_cast<unsigned>(per))) < s.N;)
          copy(s, u, min(per, s.N - u));
      }
      end_marker();
    }
  }
};

// The stress tests' random pause at a phase (max_ns > 0; XLSTM_PD_JITTER_NS): a hash of the
// block, the phase, the thread's warp and the clock, so that it differs between blocks, warps and
// launches, and the blocks reach the phases in other orders than the hardware's usual one.
__device__ __forceinline__ void random_pause(uint32_t max_ns, int64_t phase) {
  if (max_ns == 0) return;
  uint32_t h = blockIdx.x * 0x9E3779B1u ^ static_cast<uint32_t>(phase) * 0x85EBCA77u ^
               (threadIdx.x / 32) * 0xC2B2AE3Du ^ static_cast<uint32_t>(clock64());
  h ^= h >> 15, h *= 0x2C1B3C6Du, h ^= h >> 12;
  __nanosleep(h % max_ns);
}

// The start of a persistent kernel with a ring (all of its threads call it): thread 0 sets up
// the barriers; the producer warp's first thread then streams the plan's weights to the end,
// and the call returns false in the producer warp, true in the consumer threads (which go on
// to consume the phases).
template <typename Plan>
__device__ bool start_ring(Ring& ring, const Plan& plan, RingDepths depths = {}) {
  if (threadIdx.x == 0) {
    for (int i = 0; i < kStages; ++i) {
      mbar_init(&ring.full[i], 1);
      mbar_init(&ring.empty[i], kConsumerWarps);
    }
    mbar_init_fence();
  }
  __syncthreads();
  if (threadIdx.x >= kConsumers) {  // the producer warp: one thread streams
    if (threadIdx.x == kConsumers) Producer<Plan>(plan, ring, depths).run();
    return false;
  }
  return true;
}

// The consumer warps' barrier. bar.sync is the aligned form (a warp's threads arrive together):
// __syncwarp first reconverges warps whose lanes left a polling loop at different times.
__device__ __forceinline__ void consumers_sync() {
  __syncwarp();
  asm volatile("bar.sync 1, %0;" ::"n"(kConsumers) : "memory");
}

// Sum over the consumer threads; every one gets it. red: kConsumerWarps floats of shared memory.
__device__ inline float consumer_sum(float v, float* red) {
  v = warp_sum(v);
  if (threadIdx.x % 32 == 0) red[threadIdx.x / 32] = v;
  consumers_sync();
  float t = 0.0f;
#pragma unroll
  for (int w = 0; w < kConsumerWarps; ++w) t += red[w];
  consumers_sync();  // red is free again
  return t;
}

__device__ __forceinline__ void unpack(uint32_t u, float& lo, float& hi) {
  lo = __uint_as_float(u << 16);
  hi = __uint_as_float(u & 0xffff0000u);
}

// Σ over 8 bf16 products w·x, float32.
__device__ __forceinline__ float dot8(const uint4& w, const uint4& x, float acc) {
  const uint32_t wv[4] = {w.x, w.y, w.z, w.w}, xv[4] = {x.x, x.y, x.z, x.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    float w0, w1, x0, x1;
    unpack(wv[i], w0, w1);
    unpack(xv[i], x0, x1);
    acc = fmaf(w0, x0, acc);
    acc = fmaf(w1, x1, acc);
  }
  return acc;
}

// The consumers' side of a phase whose stages are not weight rows (a tensor phase): every stage up
// to the end marker waited for, handed to take(stage bytes, meta) and released by every warp.
template <typename Take>
__device__ void take_stages(Ring& ring, Take take) {
  for (;;) {
    const uint32_t slot = ring.k % kStages;
    mbar_wait(&ring.full[slot], (ring.k / kStages) & 1);
    ++ring.k;
    const StageMeta m = ring.meta[slot];
    if (m.n != 0) take(ring.stages + slot * kStageBytes, m);
    __syncwarp();
    if (threadIdx.x % 32 == 0) mbar_arrive(&ring.empty[slot]);
    if (m.n == 0) return;
  }
}

// The consumers' side of one phase (rows of K values): the stages up to the end marker. Unit j
// of a stage goes to warp (units before it in the phase + j) % kConsumerWarps, which computes
// its dot product(s) with xs and hands them to out(row, a, b) in lane 0. Every warp waits for
// every stage and releases it, rows or not (the ring's phases stay in step).
template <bool Pair, typename Out>
__device__ void consume(Ring& ring, int64_t K, const bf16* xs, Out out) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t K8 = K / 8;
  const auto* x8 = reinterpret_cast<const uint4*>(xs);
  for (int64_t done = 0;;) {
    const uint32_t slot = ring.k % kStages;
    mbar_wait(&ring.full[slot], (ring.k / kStages) & 1);
    ++ring.k;
    const StageMeta m = ring.meta[slot];
    const auto* stage = reinterpret_cast<const uint4*>(ring.stages + slot * kStageBytes);
    const int64_t first = ((warp - done) % kConsumerWarps + kConsumerWarps) % kConsumerWarps;
    for (int64_t j = first; j < m.n; j += kConsumerWarps) {
      const uint4* w = stage + j * K8;
      const uint4* w2 = stage + (m.n + j) * K8;
      // Four partial sums per lane: shorter dependency chains (a phase ends on its last row).
      float a[4] = {0, 0, 0, 0}, b[4] = {0, 0, 0, 0};
      int64_t i = lane;
      for (; i + 96 < K8; i += 128) {
#pragma unroll
        for (int p = 0; p < 4; ++p) {
          const uint4 xv = x8[i + 32 * p];
          a[p] = dot8(w[i + 32 * p], xv, a[p]);
          if constexpr (Pair) b[p] = dot8(w2[i + 32 * p], xv, b[p]);
        }
      }
      for (; i < K8; i += 32) {
        const uint4 xv = x8[i];
        a[0] = dot8(w[i], xv, a[0]);
        if constexpr (Pair) b[0] = dot8(w2[i], xv, b[0]);
      }
      const float sa = warp_sum((a[0] + a[1]) + (a[2] + a[3]));
      const float sb = Pair ? warp_sum((b[0] + b[1]) + (b[2] + b[3])) : 0.0f;
      if (lane == 0) out(m.u0 + j, sa, sb);
    }
    done += m.n;
    __syncwarp();
    if (lane == 0) mbar_arrive(&ring.empty[slot]);
    if (m.n == 0) return;
  }
}

}  // namespace xlstm::cuda::ring
