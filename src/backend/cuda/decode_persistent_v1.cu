// A run of mLSTM v1 blocks decoding one token in a single persistent kernel: one block per SM, all
// resident (cooperative launch). Why: per block the per-kernel decode streams 50 MB of bf16
// weights and 33.5 MB of float32 C (1.3B shape) in six kernels, each ramping the memory pipe up
// and down; here one producer thread per SM streams its slices of every block's W_up and W_down
// back to back through the weight ring (weight_ring.cuh), and the consumers' cell phase reads and
// writes C while the ring fills with W_down. The cell's tile of C comes through the ring too
// (kCStream, the default; XLSTM_PD_V1_C_STREAM=off: loaded by the cell's threads): the producer
// copies it as boxes of a tensor map between the layer's W_up and W_down, so its reads are in
// flight while the consumers wait on the other blocks, and take none of their registers.
//
// Phases of layer l, in every block (8 consumer warps):
//   norm  xs = bf16(LayerNorm(x) · w): x from memory (l = 0) or the words of layer l − 1
//   up    x_m | z = xs · W_upᵀ + b (x_m row j and z row j as a pair)               words xm, z
//   qkv   per group of 4 features (static, ~8 per block): the conv window and c = SiLU(conv(x_m)),
//         q, k (of c) and v (of x_m) of the group, q·√DH, k/√DH; the block's partial sums of the
//         2NH gate rows over its groups' 12 inputs each                     words qs, ks, v, c, gp
//   cell  per (head, 32 columns) tile, one per block (NH · tiles ≤ SMs): the gates from the bias
//         and every block's partials (in one fixed order), m', q̂·n', C' = f'·C + i'·k vᵀ in place
//         and h = q̂ᵀC' / denominator for the tile; the tile's mean and squared deviations of h
//         (words stats); with every tile's of the head, the head's LayerNorm and the output
//         (hn + skip · c) · SiLU(z) of the tile's columns, bf16                           words out
//   down  x' = x + out · W_downᵀ + b                                                     words x
// The last layer writes x' to memory instead of words (x is advanced in place).
//
// Ordering, without relying on timing: every vector blocks pass each other lives in words of its
// own (layer, vector), cleared before each launch, and is read only once it carries the flag of
// the phase that writes it (8l + 1 .. 8l + 5): no word is ever rewritten within a launch. What is
// not passed in words: the conv window (its group's block), the tile of C (its block), x in
// memory (read in layer 0, written by the last layer: a row's write needs the last layer's out
// words, so every block's gate partials of that layer, which each block publishes after its
// reads of layer 0; with one layer, the thread that computes a row reads and writes it, after
// every block's norm, for the out words need every block's partials), and n and m
// of a head: the head's first tile writes them once it has every tile's stats of the head, each
// of which was computed from that tile's loads of the old n and m (h depends on q̂·n and m) and
// published after a fence.
//
// The spin loops give up after kWatchdogNs (10 s; a trap: the launch fails with an error instead of
// hanging the process, and the CUDA context is unusable after it) — a dependency bug shows up as
// a failed test, not a stuck machine.
#include "backend/cuda/decode_persistent_v1.h"

#include <cuda.h>
#include <cudaTypedefs.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "backend/cuda/bulk_copy.cuh"
#include "backend/cuda/common.cuh"
#include "backend/cuda/flagged_words.cuh"
#include "backend/cuda/head_norm.cuh"
#include "backend/cuda/mlstm_v1_inputs.cuh"
#include "backend/cuda/pdl_launch.cuh"
#include "backend/cuda/weight_ring.cuh"
#include "xlstm/error.h"

namespace xlstm::cuda {

namespace {

using namespace ring;  // NOLINT: the weight ring's pieces (weight_ring.cuh)

constexpr int kTileCols = 32;                         // a cell tile: (head, 32 columns of C)
constexpr int kColThreads = kTileCols / 4;            // 4 columns per thread (16-byte accesses)
constexpr int kRowGroups = kConsumers / kColThreads;  // 32 rows of the tile at a time
constexpr int kMaxE = 16 * kConsumers;  // the norm's inputs in registers, 16 per thread
constexpr int kMaxDH = 8 * kConsumers;  // the old n in registers, 8 rows per thread
constexpr int kMaxTiles = kMaxDH / kTileCols;
constexpr int kMaxBlocks = kConsumers;  // a thread per block's gate partials
constexpr int kMaxGroups = 64;          // groups of 4 features per block (the gate sums' smem)
constexpr int kMaxFeatures = 4 * kMaxGroups;

__host__ __device__ inline int64_t tiles_per_head(int64_t DH) {
  return (DH + kTileCols - 1) / kTileCols;
}

// Rows of C per box of a streamed tile (kCStream): a ring stage holds one box.
constexpr int64_t kBoxRows = kStageBytes / (kTileCols * 4);

__host__ __device__ inline int64_t box_rows(int64_t DH) {
  return DH < kBoxRows ? DH : kBoxRows;
}

// Words of one layer: x [E] | xm, z, qs, ks, v, c, out [I each] | gp [G, 2NH] | stats [NH, T, 2]
// | the up and down pools' counters [2]; every array an even number of words (16-byte pairs).
__host__ __device__ int64_t layer_words(int64_t E, int64_t I, int64_t NH, int64_t G) {
  return E + 7 * I + G * 2 * NH + NH * tiles_per_head(I / NH) * 2 + 2;
}

struct LayerWords {
  uint64_t *x, *xm, *z, *qs, *ks, *v, *c, *out, *gp, *stats;
  unsigned *claim_up, *claim_down;
  __device__ LayerWords(const V1DecodeRun& r, int64_t l) {
    const int64_t E = r.E, I = r.I, NH = r.NH, G = gridDim.x;
    x = r.words + l * layer_words(E, I, NH, G);
    xm = x + E, z = xm + I, qs = z + I, ks = qs + I, v = ks + I, c = v + I, out = c + I;
    gp = out + I, stats = gp + G * 2 * NH;
    uint64_t* claims = stats + NH * tiles_per_head(I / NH) * 2;
    claim_up = reinterpret_cast<unsigned*>(claims);
    claim_down = reinterpret_cast<unsigned*>(claims + 1);
  }
};

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900

__device__ inline int64_t pool_share(const V1DecodeRun& r) {
  return r.ring_pool != kRingBuildDepth ? r.ring_pool : kPoolShare;
}

// Rows of C per batch and thread (two batches in flight: the next is asked for before this one
// is updated).
#ifndef XLSTM_PD_V1_LOADS
#define XLSTM_PD_V1_LOADS 4
#endif
constexpr int kLoadBatch = XLSTM_PD_V1_LOADS;
constexpr uint64_t kWatchdogNs = 10'000'000'000ull;  // generous: memcheck runs slowly

__device__ __forceinline__ unsigned long long global_ns() {
  unsigned long long t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

// Counts a spin loop's rounds; past kWatchdogNs of waiting, traps.
struct Watchdog {
  unsigned long long start = 0;
  unsigned rounds = 0;
  __device__ void operator()() {
    if ((++rounds & 1023u) != 0) return;
    const unsigned long long t = global_ns();
    if (start == 0) {
      start = t;
    } else if (t - start > kWatchdogNs) {
      __trap();
    }
  }
};

__device__ uint64_t wait_word(const uint64_t* p, uint32_t flag) {
  Watchdog dog;
  uint64_t w = ll_load(p);
  while (!ll_has(w, flag)) {
    dog();
    w = ll_load(p);
  }
  return w;
}

// Four words from p (16-byte aligned) once all carry flag, both pairs asked for at once.
__device__ float4 wait_words4(const uint64_t* p, uint32_t flag) {
  Watchdog dog;
  ulonglong2 a = ll_load2(p), b = ll_load2(p + 2);
  while (!(ll_has(a, flag) && ll_has(b, flag))) {
    dog();
    if (!ll_has(a, flag)) a = ll_load2(p);
    if (!ll_has(b, flag)) b = ll_load2(p + 2);
  }
  return make_float4(ll_float(a.x), ll_float(a.y), ll_float(b.x), ll_float(b.y));
}

__device__ __forceinline__ void trace_point(const V1DecodeRun& r, int64_t l, int point) {
  if (r.trace != nullptr && l < r.L)
    r.trace[(blockIdx.x * r.L + l) * kV1TracePoints + point] = global_ns();
}

// The weight stream: W_up (x_m and z rows as pairs) and W_down of each layer; both pooled (no
// phase owns rows of a vector in place: every output is a word of its own). With kCStream,
// between them the block's tile of C (a tensor phase: boxes of box_rows(DH) rows of the tile's
// columns; none in a block without a tile).
template <bool kCStream>
struct V1Plan {
  const V1DecodeRun& r;
  static constexpr int64_t kPhasesPerLayer = kCStream ? 3 : 2;
  __device__ Slice slice(int64_t phase) const {
    const int64_t per = kPhasesPerLayer, l = phase / per, kind = phase % per;
    if (l >= r.L) return {nullptr, 0, 0, 0, 0, 0, 0, nullptr};
    const V1DecodeLayer& L = r.d_layers[l];
    const LayerWords w(r, l);
    if (kind == 0) return block_slice(L.w_up, r.E, r.I, r.I, w.claim_up, pool_share(r));
    // (Without C phases the rest is W_down whatever kind is: the compiler cannot tell that a
    // signed phase % 2 is never −1, and the C branch cost the loaded instance 36 bytes of spills.)
    if constexpr (!kCStream) return block_slice(L.w_down, r.I, r.E, 0, w.claim_down, pool_share(r));
    if (kind == per - 1) return block_slice(L.w_down, r.I, r.E, 0, w.claim_down, pool_share(r));
    const int64_t DH = r.I / r.NH, rows = box_rows(DH);
    const int64_t boxes = blockIdx.x < r.NH * tiles_per_head(DH) ? (DH + rows - 1) / rows : 0;
    return {static_cast<const bf16*>(L.w_up), 0, 0, boxes, 0, boxes, boxes, nullptr};
  }
  // Box u of the C phase of layer phase / 3 (this block's tile).
  __device__ Box box(int64_t phase, int64_t u) const requires kCStream {
    const int64_t DH = r.I / r.NH, T = tiles_per_head(DH), rows = box_rows(DH);
    return {&r.c_maps[phase / 3], static_cast<int32_t>((blockIdx.x % T) * kTileCols),
            static_cast<int32_t>((blockIdx.x / T) * DH + u * rows),
            static_cast<uint32_t>(rows * min(static_cast<int64_t>(kTileCols), DH) * 4)};
  }
  __device__ void producer_phase(int64_t phase) const {
    const int64_t per = kPhasesPerLayer, kind = phase % per;
    if (kind == 0 || kind == per - 1) trace_point(r, phase / per, kind == 0 ? 7 : 8);
    random_pause(r.jitter_ns, phase);
  }
};

static_assert(has_tensor_phases<V1Plan<true>> && !has_tensor_phases<V1Plan<false>>);

// Shared memory of the consumers besides the ring and xs.
struct Scratch {
  float4 (*partial)[kColThreads];  // [kRowGroups][kColThreads] the tile's q̂ᵀC' per row group
  float* red;                      // [kConsumerWarps] consumer_sum
  float* feat;  // [3 · kMaxFeatures] q | k | v of the block's features (qkv), then x + b_down
                // of its static rows of W_down (down)
  float* gate_parts;  // [2 · kMaxBlocks] i | f partials of the tile's head
  float* tile_stats;  // [2 · kMaxTiles] mean | squared deviations per tile
  float* h;           // [kTileCols]
  float* v;           // [kTileCols] v of the tile's columns
  float* m_old;       // [1]
  float *q, *k;       // [DH] q̂ and k of the tile's head
};

// xs = bf16(LayerNorm(x) · w) over E (biased variance, eps): x from x_in or, once they carry
// flag, from the words xw.
__device__ void load_normed_input(const float* x_in, const uint64_t* xw, uint32_t flag, int64_t E,
                                  const float* w, float eps, bf16* xs, float* red) {
  constexpr int kPer = kMaxE / kConsumers;
  const int tid = threadIdx.x;
  float v[kPer], wv[kPer];  // the weights asked for before the wait on x
#pragma unroll
  for (int i = 0; i < kPer; ++i) {
    const int64_t e = tid + i * kConsumers;
    wv[i] = e < E ? w[e] : 0.0f;
  }
  if (x_in != nullptr) {
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      const int64_t e = tid + i * kConsumers;
      v[i] = e < E ? __ldcg(x_in + e) : 0.0f;
    }
  } else {
    uint64_t xv[kPer];
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      const int64_t e = tid + i * kConsumers;
      xv[i] = e < E ? ll_load(xw + e) : static_cast<uint64_t>(flag) << 32;
    }
    Watchdog dog;
    for (bool all = false; !all;) {
      all = true;
#pragma unroll
      for (int i = 0; i < kPer; ++i) {
        if (ll_has(xv[i], flag)) continue;
        xv[i] = ll_load(xw + tid + i * kConsumers);
        all = false;
      }
      if (!all) dog();
    }
#pragma unroll
    for (int i = 0; i < kPer; ++i) v[i] = ll_float(xv[i]);
  }
  const auto n = static_cast<float>(E);
  float sum = 0.0f;
#pragma unroll
  for (int i = 0; i < kPer; ++i) sum += v[i];
  const float mean = consumer_sum(sum, red) / n;
  float var = 0.0f;
#pragma unroll
  for (int i = 0; i < kPer; ++i)
    if (tid + i * kConsumers < E) var += (v[i] - mean) * (v[i] - mean);
  const float r = rsqrtf(consumer_sum(var, red) / n + eps);
  consumers_sync();  // every warp is done with the previous phase's xs
#pragma unroll
  for (int i = 0; i < kPer; ++i) {
    const int64_t e = tid + i * kConsumers;
    if (e < E) xs[e] = __float2bfloat16((v[i] - mean) * r * wv[i]);
  }
  consumers_sync();
}

// Rows a0, a0 + kRowGroups, .. (kLoadBatch of them) of a tile's columns at Cb (row stride DH);
// rows past DH: zeros, not loaded.
__device__ __forceinline__ void load_rows(const float* Cb, int64_t DH, int64_t a0,
                                          float4 (&rows)[kLoadBatch]) {
#pragma unroll
  for (int i = 0; i < kLoadBatch; ++i) {
    const int64_t a = a0 + i * kRowGroups;
    rows[i] = a < DH ? load4(Cb + a * DH) : make_float4(0, 0, 0, 0);
  }
}

// A row piece of the new C: a plain store, or with evict_first (r.c_evict): prefetch_tile asks
// C into L2 as evict_last, and written back the lines may keep that priority while the later
// layers' streams need the room.
__device__ __forceinline__ void store_c(float* p, float4 v, bool evict, uint64_t policy) {
  if (evict) {
    asm volatile("st.global.L2::cache_hint.v4.f32 [%0], {%1, %2, %3, %4}, %5;" ::"l"(p), "f"(v.x),
                 "f"(v.y), "f"(v.z), "f"(v.w), "l"(policy)
                 : "memory");
  } else {
    store4(p, v);
  }
}

// While W_up streams: the tile's rows of C into L2 (as evict_last, or normal: r.c_prefetch), so
// that the cell's loads hit it.
__device__ void prefetch_tile(const float* C, int64_t DH, V1CPrefetch how) {
  if (how == V1CPrefetch::kNone) return;
  for (int64_t a = threadIdx.x; a < DH; a += kConsumers) {
    if (how == V1CPrefetch::kEvictLast) {
      asm volatile("prefetch.global.L2::evict_last [%0];" ::"l"(C + a * DH));
    } else {
      asm volatile("prefetch.global.L2 [%0];" ::"l"(C + a * DH));
    }
  }
}

// Asks L2 for bytes at p, the lines split over every consumer thread of the grid (each line by
// one of them).
__device__ void prefetch_shared(const void* p, int64_t bytes) {
  if (p == nullptr) return;
  const auto at = reinterpret_cast<uintptr_t>(p);
  const char* base = reinterpret_cast<const char*>(at & ~uintptr_t{127});
  bytes += static_cast<int64_t>(at & 127);
  const int64_t first = blockIdx.x * kConsumers + threadIdx.x, step = gridDim.x * kConsumers;
  for (int64_t line = first; line * 128 < bytes; line += step)
    asm volatile("prefetch.global.L2 [%0];" ::"l"(base + line * 128));
}

// The up biases of the rows this warp will take from the block's static share into L1 (lane 0
// adds them to each row's sums: a round trip per row otherwise). Static unit k of the phase goes
// to warp k % kConsumerWarps (consume<>), so the lanes split warp w's units w, w + 8, ...
__device__ void prefetch_up_biases(const V1DecodeRun& r, const V1DecodeLayer& L,
                                   const LayerWords& w) {
  const Slice up = block_slice(L.w_up, r.E, r.I, r.I, w.claim_up, pool_share(r));
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  for (int64_t j = up.r0 + warp + kConsumerWarps * lane; j < up.r1; j += kConsumers) {
    asm volatile("prefetch.global.L1 [%0];" ::"l"(L.b_up + j));
    asm volatile("prefetch.global.L1 [%0];" ::"l"(L.b_up + r.I + j));
  }
}

// At a layer's start, its small vectors into L2 (and the next layer's norm weights): the trace
// (XLSTM_PD_TRACE) showed the latency-bound phases (qkv, the cell, the next norm) each paying
// DRAM round trips under the weight stream's load for loads that depend on nothing this token
// computes.
__device__ void prefetch_layer(const V1DecodeRun& r, int64_t l) {
  const V1DecodeLayer& L = r.d_layers[l];
  const V1DecodeState& S = r.state[l];
  const int64_t E = r.E, I = r.I, NH = r.NH, f = 4;  // bytes per float
  prefetch_shared(L.b_up, 2 * I * f);
  prefetch_shared(L.conv_w, 4 * I * f);
  prefetch_shared(L.conv_b, I * f);
  for (const float* w : {L.q_w, L.k_w, L.v_w}) prefetch_shared(w, 4 * I * f);
  for (const float* b : {L.q_b, L.k_b, L.v_b, L.outnorm, L.skip}) prefetch_shared(b, I * f);
  prefetch_shared(L.gates, 2 * NH * 3 * I * f);
  prefetch_shared(L.gates_b, 2 * NH * f);
  prefetch_shared(L.b_down, E * f);
  prefetch_shared(S.conv, 4 * I * f);
  prefetch_shared(S.n, I * f);
  prefetch_shared(S.m, NH * f);
  if (l + 1 < r.L) prefetch_shared(r.d_layers[l + 1].norm, E * f);
}

// The groups of 4 features [g0, g1) of this block: a thread each. Every load that does not
// depend on x_m (weights, the conv window, the first gate weights) is asked for before the wait
// on it: the phase is a chain of latencies, not of bytes.
__device__ void qkv_phase(const V1DecodeRun& r, const V1DecodeLayer& L, const V1DecodeState& S,
                          const LayerWords& w, uint32_t f, const Scratch& sm) {
  const int64_t I = r.I, NH = r.NH, G = gridDim.x, groups = I / 4;
  const int64_t g0 = blockIdx.x * groups / G, g1 = (blockIdx.x + 1) * groups / G;
  const int64_t g = g0 + threadIdx.x, fe = 4 * g;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t nf = 4 * (g1 - g0);
  // The gate weights of this warp's first row and its lane's first feature (all of them where a
  // block has a row per warp and at most 32 features, as at the 1.3B shape).
  float gw_first[3] = {0.0f, 0.0f, 0.0f};
  if (warp < 2 * NH && lane < nf) {
    const float* wr = L.gates + warp * 3 * I + 4 * g0 + lane;
    gw_first[0] = wr[0], gw_first[1] = wr[I], gw_first[2] = wr[2 * I];
  }
  if (g < g1) {
    float4 taps[4];
    load_taps4(L.conv_w, fe, taps);
    const float4 b4 = L.conv_b != nullptr ? make_float4(L.conv_b[fe], L.conv_b[fe + 1],
                                                        L.conv_b[fe + 2], L.conv_b[fe + 3])
                                          : make_float4(0, 0, 0, 0);
    const BlockProj4 pq = BlockProj4::load(L.q_w, L.q_b, fe),
                     pk = BlockProj4::load(L.k_w, L.k_b, fe);
    const BlockProj4 pv = BlockProj4::load(L.v_w, L.v_b, fe);
    float* st = S.conv + fe;  // window entry j at st[j·I], newest last
    float4 win[4];
#pragma unroll
    for (int j = 0; j < 3; ++j) win[j] = load4(st + (j + 1) * I);
    win[3] = wait_words4(w.xm + fe, f + 1);
#pragma unroll
    for (int j = 0; j < 4; ++j) store4(st + j * I, win[j]);
    const float4 c = conv4(b4, taps, win, true);
    const float4 q = pq(c), k = pk(c), v = pv(win[3]);
    const float scale = sqrtf(static_cast<float>(I / NH));
    const float qv[4] = {q.x, q.y, q.z, q.w}, kv[4] = {k.x, k.y, k.z, k.w};
    const float vv[4] = {v.x, v.y, v.z, v.w}, cv[4] = {c.x, c.y, c.z, c.w};
#pragma unroll
    for (int u = 0; u < 4; ++u) {
      ll_store(w.qs + fe + u, __float_as_uint(qv[u] * scale), f + 2);
      ll_store(w.ks + fe + u, __float_as_uint(kv[u] / scale), f + 2);
      ll_store(w.v + fe + u, __float_as_uint(vv[u]), f + 2);
      ll_store(w.c + fe + u, __float_as_uint(cv[u]), f + 2);
      sm.feat[4 * threadIdx.x + u] = qv[u];  // the block's q | k | v for the gate sums
      sm.feat[kMaxFeatures + 4 * threadIdx.x + u] = kv[u];
      sm.feat[2 * kMaxFeatures + 4 * threadIdx.x + u] = vv[u];
    }
  }
  consumers_sync();
  // This block's partial sum of each gate row over its features' q | k | v: a warp per row, its
  // lanes over the features (one round of coalesced loads of the gate weights).
  for (int64_t o = warp; o < 2 * NH; o += kConsumerWarps) {
    const float* wr = L.gates + o * 3 * I + 4 * g0;
    float p = 0.0f;
    for (int64_t j = lane; j < nf; j += 32) {
      const bool first = o == warp && j == lane;
      p += sm.feat[j] * (first ? gw_first[0] : wr[j]);
      p += sm.feat[kMaxFeatures + j] * (first ? gw_first[1] : wr[I + j]);
      p += sm.feat[2 * kMaxFeatures + j] * (first ? gw_first[2] : wr[2 * I + j]);
    }
    p = warp_sum(p);
    if (lane == 0) ll_store(w.gp + blockIdx.x * 2 * NH + o, __float_as_uint(p), f + 2);
  }
}

// The cell's inputs from other blocks: q̂ and k of the tile's head, v of its columns
// [d0, d0 + nv) into shared memory and every block's gate partials of the head, all asked for
// before any is waited on (one round trip where each was its own).
__device__ void read_head_inputs(const V1DecodeRun& r, const LayerWords& w, uint32_t f,
                                 int64_t head, int64_t d0, int64_t nv, const Scratch& sm,
                                 Watchdog& dog) {
  // Pairs of words per thread, vector and pass: all of a head of DH ≤ 1024 in one pass (more
  // would cost registers the kernel has not got).
  constexpr int kPer = 2;
  const int64_t NH = r.NH, DH = r.I / NH, pairs = DH / 2, G = gridDim.x;
  const int tid = threadIdx.x;
  const uint64_t* qs = w.qs + head * DH;
  const uint64_t* ks = w.ks + head * DH;
  const uint64_t* gp = w.gp + tid * 2 * NH + head;  // block tid's partials: i at 0, f at NH
  const bool has_gate = tid < G;
  const uint64_t empty = static_cast<uint64_t>(f + 2) << 32;  // a word that needs no wait
  uint64_t gi = has_gate ? ll_load(gp) : empty, gf = has_gate ? ll_load(gp + NH) : empty;
  const uint64_t* vs = w.v + head * DH + d0 + 2 * tid;  // a pair of the tile's columns
  const bool has_v = 2 * tid < nv;                      // nv: a multiple of 4
  ulonglong2 vw = has_v ? ll_load2(vs) : make_ulonglong2(empty, empty);
  const float inv_scale = 1.0f / sqrtf(static_cast<float>(DH));
  for (int64_t base = tid; base - tid < pairs; base += kPer * kConsumers) {
    ulonglong2 qw[kPer], kw[kPer];
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      const int64_t p = base + i * kConsumers;
      qw[i] = p < pairs ? ll_load2(qs + 2 * p) : make_ulonglong2(empty, empty);
      kw[i] = p < pairs ? ll_load2(ks + 2 * p) : make_ulonglong2(empty, empty);
    }
    for (bool all = false; !all;) {
      all = true;
#pragma unroll
      for (int i = 0; i < kPer; ++i) {
        const int64_t p = base + i * kConsumers;
        if (!ll_has(qw[i], f + 2)) qw[i] = ll_load2(qs + 2 * p), all = false;
        if (!ll_has(kw[i], f + 2)) kw[i] = ll_load2(ks + 2 * p), all = false;
      }
      if (!ll_has(gi, f + 2)) gi = ll_load(gp), all = false;
      if (!ll_has(gf, f + 2)) gf = ll_load(gp + NH), all = false;
      if (!ll_has(vw, f + 2)) vw = ll_load2(vs), all = false;
      if (!all) dog();
    }
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      const int64_t p = base + i * kConsumers;
      if (p >= pairs) continue;
      sm.q[2 * p] = ll_float(qw[i].x) * inv_scale;
      sm.q[2 * p + 1] = ll_float(qw[i].y) * inv_scale;
      sm.k[2 * p] = ll_float(kw[i].x), sm.k[2 * p + 1] = ll_float(kw[i].y);
    }
  }
  if (has_gate) sm.gate_parts[tid] = ll_float(gi), sm.gate_parts[kMaxBlocks + tid] = ll_float(gf);
  if (has_v) sm.v[2 * tid] = ll_float(vw.x), sm.v[2 * tid + 1] = ll_float(vw.y);
}

// The cell of this block's tile (head, columns [d0, d0 + nv)), then the head's norm and output
// gate for those columns (see the top of the file).
template <bool kCStream>
__device__ void cell_phase(const V1DecodeRun& r, const V1DecodeLayer& L, const V1DecodeState& S,
                           const LayerWords& w, uint32_t f, const Scratch& sm, int64_t l,
                           Ring& ring) {
  const int64_t NH = r.NH, DH = r.I / NH, T = tiles_per_head(DH), G = gridDim.x;
  const int64_t head = blockIdx.x / T, tile = blockIdx.x % T, d0 = tile * kTileCols;
  const int64_t nv = min(static_cast<int64_t>(kTileCols), DH - d0);
  const int tid = threadIdx.x;
  constexpr int kN = kMaxDH / kConsumers;
  float n_old[kN];
#pragma unroll
  for (int i = 0; i < kN; ++i) {
    const int64_t a = tid + i * kConsumers;
    n_old[i] = a < DH ? __ldcg(S.n + head * DH + a) : 0.0f;
  }
  if (tid == 0) sm.m_old[0] = __ldcg(S.m + head);
  // The tile's first rows of C, asked for before the waits on q, k, v and the gates.
  const int tx = tid % kColThreads, ty = tid / kColThreads;
  const bool col = 4 * tx < nv;
  float* Cb = S.C + head * DH * DH + d0 + 4 * tx;
  constexpr int64_t kStep = kRowGroups * kLoadBatch;  // rows of a batch
  float4 cv[kLoadBatch];
  if (col && !kCStream) load_rows(Cb, DH, ty, cv);
  const float i_bias = L.gates_b != nullptr ? L.gates_b[head] : 0.0f;
  const float f_bias = L.gates_b != nullptr ? L.gates_b[NH + head] : 0.0f;
  Watchdog dog;
  read_head_inputs(r, w, f, head, d0, nv, sm, dog);
  consumers_sync();
  // The gates: the bias plus every block's partial, lanes over the blocks and then the warp's
  // butterfly (each pair adds the same two values in every lane: the same sums in every thread).
  float pi = 0.0f, pf = 0.0f;
  for (int64_t b = tid % 32; b < G; b += 32) {
    pi += sm.gate_parts[b];
    pf += sm.gate_parts[kMaxBlocks + b];
  }
  const float i_pre = i_bias + warp_sum(pi), f_pre = f_bias + warp_sum(pf);
  const float m_prev = sm.m_old[0];
  const float lf = log_sigmoid(f_pre);
  const float m_new = fmaxf(lf + m_prev, i_pre);
  const float f_act = expf(lf + m_prev - m_new), i_act = expf(i_pre - m_new);
  float qn = 0.0f;
#pragma unroll
  for (int i = 0; i < kN; ++i) {
    const int64_t a = tid + i * kConsumers;
    if (a < DH) qn += sm.q[a] * (f_act * n_old[i] + i_act * sm.k[a]);
  }
  qn = consumer_sum(qn, sm.red);
  const float denom = fmaxf(fabsf(qn), expf(-m_new)) + r.cell_eps;
  if (tid == 0) trace_point(r, l, 9);
  // C' = f'·C + i'·k vᵀ for the tile, and its q̂ᵀC' by row group; the next batch's rows asked
  // for before this batch's update.
  float4 acc = make_float4(0, 0, 0, 0);
  if constexpr (kCStream) {
    // The rows from the ring's boxes, in the order of the loads below (the same sums). Every
    // thread takes every stage (a warp releases it as one), the tile's columns or not.
    const int64_t rows = box_rows(DH), pitch = min(static_cast<int64_t>(kTileCols), DH) / 4;
    const bool evict = r.c_evict;
    const uint64_t policy = evict ? l2_evict_first_policy() : 0;
    take_stages(ring, [&](const char* stage, StageMeta box) {
      if (!col) return;
      const float4 vd =
          make_float4(sm.v[4 * tx], sm.v[4 * tx + 1], sm.v[4 * tx + 2], sm.v[4 * tx + 3]);
      const auto* st = reinterpret_cast<const float4*>(stage);
      for (int64_t a = ty, row = box.u0 * rows + ty; a < rows && row < DH;
           a += kRowGroups, row += kRowGroups)
        store_c(Cb + row * DH,
                update4(st[a * pitch + tx], f_act, i_act * sm.k[row], vd, sm.q[row], acc), evict,
                policy);
    });
  } else if (col) {
    const float4 vd =
        make_float4(sm.v[4 * tx], sm.v[4 * tx + 1], sm.v[4 * tx + 2], sm.v[4 * tx + 3]);
    const bool evict = r.c_evict;
    const uint64_t policy = evict ? l2_evict_first_policy() : 0;
    for (int64_t a0 = ty; a0 < DH; a0 += kStep) {
      float4 next[kLoadBatch];
      load_rows(Cb, DH, a0 + kStep, next);
#pragma unroll
      for (int i = 0; i < kLoadBatch; ++i) {
        const int64_t a = a0 + i * kRowGroups;
        if (a >= DH) break;
        store_c(Cb + a * DH, update4(cv[i], f_act, i_act * sm.k[a], vd, sm.q[a], acc), evict,
                policy);
      }
#pragma unroll
      for (int i = 0; i < kLoadBatch; ++i) cv[i] = next[i];
    }
  }
  sm.partial[ty][tx] = acc;
  consumers_sync();
  if (tid == 0) trace_point(r, l, 10);
  if (tid < kColThreads && 4 * tid < nv) {
    float4 s = make_float4(0, 0, 0, 0);
    for (int g = 0; g < kRowGroups; ++g) {
      const float4 p = sm.partial[g][tid];
      s.x += p.x, s.y += p.y, s.z += p.z, s.w += p.w;
    }
    sm.h[4 * tid] = s.x / denom, sm.h[4 * tid + 1] = s.y / denom;
    sm.h[4 * tid + 2] = s.z / denom, sm.h[4 * tid + 3] = s.w / denom;
  }
  consumers_sync();
  // The output gate's inputs of this thread's column, asked for before the wait on the head's
  // stats (z and c have long been published).
  const int64_t e_out = head * DH + d0 + tid;
  const bool out_col = tid < nv;
  uint64_t wz = 0, wc = 0;
  float out_w = 0.0f, skip_w = 0.0f;
  if (out_col) {
    wz = ll_load(w.z + e_out), wc = ll_load(w.c + e_out);
    out_w = L.outnorm[e_out], skip_w = L.skip[e_out];
  }
  // The tile's mean and squared deviations of h, for the head's LayerNorm (Chan's combination).
  if (tid < 32) {
    const bool in = tid < nv;
    const float h = in ? sm.h[tid] : 0.0f;
    const float mean = warp_sum(h) / static_cast<float>(nv);
    const float d = in ? h - mean : 0.0f;
    const float m2 = warp_sum(d * d);
    if (tid == 0) {
      __threadfence();  // the block's loads of the old n and m come before the stats say so
      uint64_t* ps = w.stats + (head * T + tile) * 2;
      ll_store(ps, __float_as_uint(mean), f + 3);
      ll_store(ps + 1, __float_as_uint(m2), f + 3);
    }
  }
  for (int64_t t = tid; t < T; t += kConsumers) {
    const uint64_t* ps = w.stats + (head * T + t) * 2;
    sm.tile_stats[t] = ll_float(wait_word(ps, f + 3));
    sm.tile_stats[kMaxTiles + t] = ll_float(wait_word(ps + 1, f + 3));
  }
  __threadfence();  // the stats seen come before this block's stores of the new n and m
  consumers_sync();
  if (tid == 0) trace_point(r, l, 11);
  float mean = 0.0f;
  for (int64_t t = 0; t < T; ++t)
    mean += static_cast<float>(min(static_cast<int64_t>(kTileCols), DH - t * kTileCols)) *
            sm.tile_stats[t];
  mean /= static_cast<float>(DH);
  float m2 = 0.0f;
  for (int64_t t = 0; t < T; ++t) {
    const float d = sm.tile_stats[t] - mean;
    m2 += sm.tile_stats[kMaxTiles + t] +
          static_cast<float>(min(static_cast<int64_t>(kTileCols), DH - t * kTileCols)) * d * d;
  }
  const float rstd = 1.0f / sqrtf(m2 / static_cast<float>(DH) + r.norm_eps);
  if (out_col) {
    if (!ll_has(wz, f + 1)) wz = wait_word(w.z + e_out, f + 1);
    if (!ll_has(wc, f + 2)) wc = wait_word(w.c + e_out, f + 2);
    const float z = ll_float(wz), c = ll_float(wc);
    const float normed = (sm.h[tid] - mean) * rstd * out_w;
    const float out = gate_output(normed, z, V1Skip{&skip_w, &c}, 0);
    ll_store(w.out + e_out, __bfloat16_as_ushort(__float2bfloat16(out)), f + 4);
  }
  // Every tile of the head has its stats in, so has read the old n and m: the new ones.
  if (tile == 0) {
#pragma unroll
    for (int i = 0; i < kN; ++i) {
      const int64_t a = tid + i * kConsumers;
      if (a < DH) S.n[head * DH + a] = f_act * n_old[i] + i_act * sm.k[a];
    }
    if (tid == 0) S.m[head] = m_new;
  }
}

template <bool kCStream>
__device__ void consumer(const V1DecodeRun& r, Ring& ring, bf16* xs, const Scratch& sm) {
  const int64_t NH = r.NH, DH = r.I / NH, T = tiles_per_head(DH);
  const bool has_tile = blockIdx.x < NH * T;
  for (int64_t l = 0; l < r.L; ++l) {
    const V1DecodeLayer& L = r.d_layers[l];
    const V1DecodeState& S = r.state[l];
    const LayerWords w(r, l);
    const auto f = static_cast<uint32_t>(8 * l);
    const bool tracer = threadIdx.x == 0;
    if (tracer) trace_point(r, l, 0);
    if (r.prefetch_vectors) prefetch_layer(r, l);
    if (L.b_up != nullptr) prefetch_up_biases(r, L, w);
    if (l == 0) {
      load_normed_input(r.x, nullptr, 0, r.E, L.norm, r.norm_eps, xs, sm.red);
    } else {
      load_normed_input(nullptr, LayerWords(r, l - 1).x, f - 3, r.E, L.norm, r.norm_eps, xs,
                        sm.red);
    }
    if (tracer) trace_point(r, l, 1);
    if (has_tile)
      prefetch_tile(S.C + (blockIdx.x / T) * DH * DH + (blockIdx.x % T) * kTileCols, DH,
                    r.c_prefetch);
    random_pause(r.jitter_ns, 4 * l);
    consume<true>(ring, r.E, xs, [&](int64_t j, float a, float b) {
      const float xm = a + (L.b_up != nullptr ? __ldg(L.b_up + j) : 0.0f);
      const float z = b + (L.b_up != nullptr ? __ldg(L.b_up + r.I + j) : 0.0f);
      ll_store(w.xm + j, __float_as_uint(xm), f + 1);
      ll_store(w.z + j, __float_as_uint(z), f + 1);
    });
    consumers_sync();  // the scratch of the gate sums is free
    if (tracer) trace_point(r, l, 2);
    random_pause(r.jitter_ns, 4 * l + 1);
    qkv_phase(r, L, S, w, f, sm);
    consumers_sync();
    if (tracer) trace_point(r, l, 3);
    random_pause(r.jitter_ns, 4 * l + 2);
    if (has_tile) {
      cell_phase<kCStream>(r, L, S, w, f, sm, l, ring);
    } else if constexpr (kCStream) {
      take_stages(ring, [](const char*, StageMeta) {});  // the C phase: no tile here
    }
    consumers_sync();  // every warp is done with xs
    if (tracer) trace_point(r, l, 4);
    random_pause(r.jitter_ns, 4 * l + 3);
    const uint64_t* prev = l > 0 ? LayerWords(r, l - 1).x : nullptr;
    // x before this layer (present: the norm waited for every word of it) and the bias of the
    // block's static rows of W_down into shared memory (free since qkv), asked for before the
    // wait on the out words: the rows' outputs then take no round trip in lane 0.
    const Slice down = block_slice(L.w_down, r.I, r.E, 0, w.claim_down, pool_share(r));
    const bool staged = down.r1 - down.r0 <= 3 * kMaxFeatures;
    const auto residual = [&](int64_t row) {  // x before this layer plus the bias
      const float x = prev != nullptr ? ll_float(wait_word(prev + row, f - 3)) : __ldcg(r.x + row);
      return x + (L.b_down != nullptr ? L.b_down[row] : 0.0f);
    };
    if (staged) {
      for (int64_t row = down.r0 + threadIdx.x; row < down.r1; row += kConsumers)
        sm.feat[row - down.r0] = residual(row);
    }
    Watchdog dog;
    ll_read<kConsumers>(
        w.out, r.I, f + 4,
        [&](int64_t i, uint32_t bits) {
          xs[i] = __ushort_as_bfloat16(static_cast<unsigned short>(bits));
        },
        [&] { dog(); });
    consumers_sync();
    if (tracer) trace_point(r, l, 5);
    const bool last = l + 1 == r.L;
    consume<false>(ring, r.I, xs, [&](int64_t row, float a, float) {
      const bool is_staged = staged && row >= down.r0 && row < down.r1;
      const float y = a + (is_staged ? sm.feat[row - down.r0] : residual(row));
      if (last) {
        r.x[row] = y;
      } else {
        ll_store(w.x + row, __float_as_uint(y), f + 5);
      }
    });
    if (tracer) trace_point(r, l, 6);
  }
}

#endif  // sm_90

__host__ __device__ constexpr size_t align_up(size_t n, size_t a) {
  return (n + a - 1) / a * a;
}

// [barriers | stage meta | partial | red | feat | gate_parts | tile_stats | h | v | m_old | q | k]
// (header, 1 KB aligned), the ring's stages, then xs (bf16, the wider of E and I).
__host__ __device__ size_t header_bytes(int64_t DH) {
  const size_t fixed =
      2 * kStages * 8 + kStages * 8 + kRowGroups * kColThreads * 16 +
      (kConsumerWarps + 3 * kMaxFeatures + 2 * kMaxBlocks + 2 * kMaxTiles + 2 * kTileCols + 4) * 4;
  return align_up(fixed + 2 * static_cast<size_t>(DH) * 4, 1024);
}

size_t smem_bytes(int64_t E, int64_t I, int64_t NH) {
  return header_bytes(I / NH) + kStages * kStageBytes + static_cast<size_t>(std::max(E, I)) * 2;
}

// (Registers: 9 warps share an SM's 4 register files of 16K, one file holding 3 of them, so
// 168 per thread at most; more and the kernel cannot launch. Both instances use 168; ptxas -v
// (scripts/debug/v1_registers.sh) shows no spills with C loaded and 48 bytes with C streamed.)
template <bool kCStream>
__global__ void __launch_bounds__(kThreads, 1)
    v1_decode_kernel(const __grid_constant__ V1DecodeRun r) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  extern __shared__ __align__(1024) char smem[];
  const int64_t DH = r.I / r.NH;
  auto* bars = reinterpret_cast<uint64_t*>(smem);
  auto* meta = reinterpret_cast<StageMeta*>(bars + 2 * kStages);
  Scratch sm;
  sm.partial = reinterpret_cast<float4(*)[kColThreads]>(meta + kStages);
  float* p = reinterpret_cast<float*>(sm.partial + kRowGroups);
  sm.red = p, p += kConsumerWarps;
  sm.feat = p, p += 3 * kMaxFeatures;
  sm.gate_parts = p, p += 2 * kMaxBlocks;
  sm.tile_stats = p, p += 2 * kMaxTiles;
  sm.h = p, p += kTileCols;
  sm.v = p, p += kTileCols;
  sm.m_old = p, p += 4;
  sm.q = p, p += DH;
  sm.k = p;
  const size_t header = header_bytes(DH);
  Ring ring{bars, bars + kStages, meta, smem + header};
  auto* xs = reinterpret_cast<bf16*>(smem + header + kStages * kStageBytes);
  const V1Plan<kCStream> plan{r};
  RingDepths depths;
  if (r.ring_in_flight != kRingBuildDepth) depths.in_flight = r.ring_in_flight;
  if (r.ring_prefetch != kRingBuildDepth) depths.prefetch = r.ring_prefetch;
  if (!start_ring(ring, plan, depths)) return;  // the producer warp
  consumer<kCStream>(r, ring, xs, sm);
#endif
}

std::atomic<uint64_t> g_launches{0};

const PersistentFacts& device_facts() {
  static const PersistentFacts f = [] {
    persistent_facts(v1_decode_kernel<true>);  // allows its shared memory too
    return persistent_facts(v1_decode_kernel<false>);
  }();
  return f;
}

// The launch with a trace buffer, then (after it) the trace appended to path.
void launch_traced(V1DecodeRun r, const char* path, Stream s) {
  const auto G = static_cast<int64_t>(device_facts().sms);
  const int64_t header[3] = {G, r.L, kV1TracePoints};
  const auto n = static_cast<size_t>(G * r.L * kV1TracePoints);
  DeviceBuffer trace(n * sizeof(unsigned long long));
  XLSTM_CUDA_CHECK(cudaMemsetAsync(trace.get(), 0, trace.bytes(), s));
  r.trace = trace.as<unsigned long long>();
  launch_cooperative(r.c_stream ? v1_decode_kernel<true> : v1_decode_kernel<false>,
                     dim3(static_cast<unsigned>(G)), dim3(kThreads), smem_bytes(r.E, r.I, r.NH), s,
                     r);
  std::vector<unsigned long long> host(n);
  XLSTM_CUDA_CHECK(
      cudaMemcpyAsync(host.data(), trace.get(), trace.bytes(), cudaMemcpyDeviceToHost, s));
  XLSTM_CUDA_CHECK(cudaStreamSynchronize(s));
  std::ofstream out(path, std::ios::binary | std::ios::app);
  out.write(reinterpret_cast<const char*>(header), sizeof(header));
  out.write(reinterpret_cast<const char*>(host.data()),
            static_cast<std::streamsize>(n * sizeof(unsigned long long)));
  if (!out)
    throw Error(tagged("cuda", "cannot append the v1 decode trace to " + std::string(path)));
}

// The driver's tensor-map encoder, through the runtime (nothing links libcuda).
PFN_cuTensorMapEncodeTiled_v12000 tensor_map_encoder() {
  static const PFN_cuTensorMapEncodeTiled_v12000 encode = [] {
    void* fn = nullptr;
    cudaDriverEntryPointQueryResult found{};
    XLSTM_CUDA_CHECK(cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &fn, 12000,
                                                      cudaEnableDefault, &found));
    if (found != cudaDriverEntryPointSuccess || fn == nullptr)
      throw Error(tagged("cuda",
                         "the driver has no cuTensorMapEncodeTiled for the v1 decode's "
                         "streamed C (XLSTM_PD_V1_C_STREAM=off loads it without one)"));
    return reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(fn);
  }();
  return encode;
}

// The streamed tiles' map of one block's C [NH · DH rows, DH columns] (float32, row stride DH):
// boxes of min(32, DH) columns by box_rows(DH) rows, one ring stage each.
void encode_c_map(V1TensorMap& map, float* C, int64_t NH, int64_t DH) {
  static_assert(sizeof(V1TensorMap) == sizeof(CUtensorMap) && alignof(V1TensorMap) >= 64);
  const cuuint64_t dims[2] = {static_cast<cuuint64_t>(DH), static_cast<cuuint64_t>(NH * DH)};
  const cuuint64_t strides[1] = {static_cast<cuuint64_t>(DH) * 4};
  const cuuint32_t box[2] = {static_cast<cuuint32_t>(std::min<int64_t>(kTileCols, DH)),
                             static_cast<cuuint32_t>(box_rows(DH))};
  const cuuint32_t steps[2] = {1, 1};
  const CUresult rc = tensor_map_encoder()(
      reinterpret_cast<CUtensorMap*>(&map), CU_TENSOR_MAP_DATA_TYPE_FLOAT32, 2, C, dims, strides,
      box, steps, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_NONE,
      CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (rc != CUDA_SUCCESS)
    throw Error(tagged("cuda", "v1 decode: the tensor map of C (" + std::to_string(NH) +
                                   " heads of " + std::to_string(DH) + ") was refused (CUresult " +
                                   std::to_string(static_cast<int>(rc)) + ")"));
}

}  // namespace

bool v1_decode_supported(int64_t E, int64_t I, int64_t NH) {
  const PersistentFacts& f = device_facts();
  if (!f.usable || NH < 1 || E % 8 != 0 || I % 8 != 0 || I % NH != 0) return false;
  const int64_t DH = I / NH;
  if (E > kMaxE || DH % 4 != 0 || DH > kMaxDH) return false;
  // A tile per block, the gates' partials a thread per block, at most kMaxGroups groups of 4
  // per block.
  if (NH * tiles_per_head(DH) > f.sms || f.sms > kMaxBlocks) return false;
  if ((I / 4 + f.sms - 1) / f.sms > kMaxGroups) return false;
  // An up pair of E values and a down row of I values fit a stage.
  if (2 * E * 2 > kStageBytes || I * 2 > kStageBytes) return false;
  const size_t smem = smem_bytes(E, I, NH);
  if (smem > static_cast<size_t>(f.smem_optin)) return false;
  // Every block resident at once (registers, shared memory), for either instance.
  for (const auto kernel : {v1_decode_kernel<false>, v1_decode_kernel<true>}) {
    int per_sm = 0;
    XLSTM_CUDA_CHECK(
        cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kThreads, smem));
    if (per_sm < 1) return false;
  }
  return true;
}

int64_t v1_decode_words(int64_t E, int64_t I, int64_t NH, int64_t L) {
  return L * layer_words(E, I, NH, device_facts().sms);
}

void v1_decode_run(const V1DecodeRun& run, Stream s) {
  V1DecodeRun r = run;
  if (r.L < 1 || r.L > kMaxV1DecodeLayers)
    throw Error(tagged("cuda", "v1 decode run of " + std::to_string(r.L) + " blocks (1 .. " +
                                   std::to_string(kMaxV1DecodeLayers) + " per launch)"));
  if (r.ring_pool != kRingBuildDepth && r.ring_pool < 2)
    throw Error(tagged(
        "cuda", "v1 decode: pool share 1 / " + std::to_string(r.ring_pool) + " (2 or more)"));
  if (r.ring_in_flight != kRingBuildDepth && (r.ring_in_flight < 1 || r.ring_in_flight > kStages))
    throw Error(tagged("cuda", "v1 decode: ring copies in flight " +
                                   std::to_string(r.ring_in_flight) + " (1 .. " +
                                   std::to_string(kStages) + ")"));
  if (r.c_stream) {
    for (int64_t l = 0; l < r.L; ++l) encode_c_map(r.c_maps[l], r.state[l].C, r.NH, r.I / r.NH);
  }
  const PersistentFacts& f = device_facts();
  const size_t words = v1_decode_words(r.E, r.I, r.NH, r.L);
  XLSTM_CUDA_CHECK(cudaMemsetAsync(r.words, 0, words * sizeof(uint64_t), s));
  static const char* trace_path = std::getenv("XLSTM_PD_TRACE");
  if (trace_path != nullptr && !stream_is_capturing(s)) {
    launch_traced(r, trace_path, s);
  } else {
    launch_cooperative(r.c_stream ? v1_decode_kernel<true> : v1_decode_kernel<false>,
                       dim3(static_cast<unsigned>(f.sms)), dim3(kThreads),
                       smem_bytes(r.E, r.I, r.NH), s, r);
  }
  g_launches.fetch_add(1, std::memory_order_relaxed);
}

uint64_t v1_decode_launches() {
  return g_launches.load(std::memory_order_relaxed);
}

}  // namespace xlstm::cuda
