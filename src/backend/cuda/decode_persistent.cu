// One decode step of one sequence in a single persistent kernel: one block per SM, all resident
// (cooperative launch), each owning a slice of every weight matrix.
//
// Why: a step reads 13 GB of weights, and a GEMV per kernel loses a few microseconds at each of
// its start and end while the memory pipe fills and drains (129 launches per token at the 7B
// shape). Here one producer thread per block streams its slices of W_in, W_out, W_up, W_down of
// every layer and then the LM head, back to back, through a ring of shared-memory stages with the
// copy engine (cp.async.bulk). The stream never waits for the data: only the consumers do.
//
// The consumers (8 warps) run the phases of each layer:
//   in    proj = (xb · r) · W_inᵀ + b_in                       r = rsqrt(mean(xb²) + eps)
//   cell  C, h of (head, 32 columns) per block; the gates and q̂·n in every block of the head
//   out   n, m written; hn = LayerNorm(h) per head · σ(o) (bf16, in shared memory, every block)
//         x += hn · W_outᵀ + b_out, xb = bf16(x)               (a block's own rows)
//   up    act = SiLU(g) · u, g | u = (xb · r) · W_upᵀ + b_up    (bf16)
//   down  x += act · W_downᵀ + b_down, xb = bf16(x)
// and finally logits = cap · tanh((xb · r) · Headᵀ / cap). There is no grid barrier: the vectors
// that blocks pass each other (proj, h, xb, act) travel as flagged words (flagged_words.cuh), and
// a block waits for exactly the words it reads. A block's GEMV input vector sits in shared
// memory as bf16. Numerics: those of the per-kernel fused decode (gemv.cu, mlstm_step.cu); sums
// associate differently.
//
// Ordering, without relying on timing (issue 13, section 4):
// - A flagged word is read only when it carries the flag of the phase that writes it; flags are
//   unique within a launch (5l + 1 .. 5l + 5) and the words are cleared before each launch.
// - A word is never overwritten before all its readers have read it, whatever the blocks' speeds:
//   layer l + 1 rewrites proj, h, xb and act only after a vector that needs every block's static
//   rows of an earlier phase. proj(l + 1) needs xb(5l + 5), which needs all of act(l), which
//   needs every block's static up rows, computed after that block's cell and gated heads of
//   layer l (its last reads of proj(l) and h(l)); xb words are rewritten (f + 5) only after all
//   of act, so after every block's load of xb(f + 3); act(l + 1) and xb(5(l + 1) + 3) need all
//   of proj(l + 1), so every block's static in rows, computed after its loads of act(l) and
//   xb(5l + 5). Every block has static rows in the in and up projections (the pools take only
//   the last 1 / kPoolShare of the units).
// - Data without flags: a block's rows of x and its tile of C are its own; d.xb (the bf16 copy
//   of x for the next launch) is first written after every block has read it (the out phase
//   needs all of proj(0)); n and m of a head are rewritten (write_n_m) after every h of the
//   layer is in, and every block of the head loaded them into values its h depends on (q̂·n, and
//   m through shared memory, cell_phase).
// - The one ordering that rested on timing (found in the seventh session, bench/results/cuda.md):
//   the gates' wait in cell_phase, `while (!ll_has(wg, flag)) wg = ll_load(pg);`, was compiled
//   by ptxas into a single reload, because the flagged-word loads were weak (`ld.global.cv`), so
//   a gate that arrived after that reload was used with its cleared value. Usually the gates
//   were in by then; random pauses (XLSTM_PD_JITTER_NS) or a pool that computes them last
//   (XLSTM_PD_POOL_IN) made them late. The loads are .relaxed.gpu now (flagged_words.cuh), and
//   the SASS has the loop; on the H200 the results are now bitwise the same under pauses and
//   with the pool. Test: test_cuda_model BitwiseTheSameUnderTimingJitterAndInPool; tools:
//   scripts/cuda_persistent_stress.sh, scripts/debug/pd_dump_compare.sh.

#include <atomic>
#include <cstdio>

#include "backend/cuda/bulk_copy.cuh"
#include "backend/cuda/common.cuh"
#include "backend/cuda/decode_persistent.h"
#include "backend/cuda/flagged_words.cuh"
#include "backend/cuda/pdl_launch.cuh"
#include "backend/cuda/weight_ring.cuh"

namespace xlstm::cuda {

namespace {

using namespace ring;  // NOLINT: the weight ring's pieces (weight_ring.cuh)

constexpr int64_t kMaxDHQK = kConsumers,
                  kMaxDHV = 2 * 32 * 8;  // a thread per q row; 8 pairs per lane
constexpr size_t kHeaderBytes = 5120;    // barriers and scratch, before the stages

std::atomic<uint64_t> g_launches{0};

// Tuning constants, each overridable at build time for measurements (-DXLSTM_PD_...), and
// -DXLSTM_PD_TRACE=1: the first launch prints a timeline of its layers 8 .. 23 to stderr (each
// phase's start and end, mean and latest over the blocks; bench/results/cuda.md, fourth session).
#ifndef XLSTM_PD_TRACE
#define XLSTM_PD_TRACE 0
#endif
#if XLSTM_PD_TRACE
__device__ unsigned long long g_pd_trace[160][600];
__device__ __forceinline__ unsigned long long now_ns() {
  unsigned long long t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}
#define PD_TRACE(ev)                                            \
  if (threadIdx.x % 256 == 0 && blockIdx.x < 160 && (ev) < 600) \
  g_pd_trace[blockIdx.x][ev] = now_ns()
#else
#define PD_TRACE(ev)
#endif

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900

constexpr int kCellCols = 32, kCellBatch = 32;  // the cell: 32 columns × 8 row groups × 32 rows

// Word offsets of the cross-block data in the workspace: proj [W] | h [v] | xb [E] | act [F]
// | the pools' counters [2L + 1] (each layer's up projection, the LM head, then each layer's in
// projection when it has a pool).
struct LLVectors {
  uint64_t *proj, *h, *xb, *act, *claims;
  __device__ explicit LLVectors(const PersistentDecode& d) {
    const int64_t v = d.NH * d.DHV, W = 2 * d.NH * d.DHQK + 2 * v + 2 * d.NH;
    proj = d.ll, h = proj + W, xb = h + v, act = xb + d.E, claims = act + d.F;
  }
  __device__ unsigned* claim(int64_t i) const { return reinterpret_cast<unsigned*>(claims + i); }
};

// Phase i of the weight stream: W_in, W_out, W_up (SwiGLU pairs), W_down of layer i / kPhases,
// then the LM head (i = kPhases·L); past the end, W = null. The phases whose outputs are not
// residual rows have pools.
constexpr int kPhases = 4;

// The stress test's random pause at a phase (d.jitter_ns > 0).
__device__ __forceinline__ void jitter(const PersistentDecode& d, int64_t phase) {
  random_pause(d.jitter_ns, phase);
}
__device__ Slice phase_slice(const PersistentDecode& d, int64_t phase) {
  const int64_t l = phase / kPhases, v = d.NH * d.DHV, W = 2 * d.NH * d.DHQK + 2 * v + 2 * d.NH;
  const LLVectors ll(d);
  if (l < d.L) {
    const PersistentLayer& w = d.d_layers[l];
    switch (phase % kPhases) {
      case 0:
        return block_slice(w.w_in, d.E, W, 0, d.pool_in ? ll.claim(d.L + 1 + l) : nullptr);
      case 1:
        return block_slice(w.w_out, v, d.E, 0, nullptr);
      case 2:
        return block_slice(w.w_up, d.E, d.F, d.F, ll.claim(l));
      default:
        return block_slice(w.w_down, d.F, d.E, 0, nullptr);
    }
  }
  if (phase == kPhases * d.L && d.lm_head != nullptr)
    return block_slice(d.lm_head, d.E, d.V, 0, ll.claim(d.L));
  return {nullptr, 0, 0, 0, 0, 0, 0, nullptr};
}

// The weight stream as the ring's producer walks it (weight_ring.cuh).
struct LargePlan {
  const PersistentDecode& d;
  __device__ Slice slice(int64_t phase) const { return phase_slice(d, phase); }
  __device__ void producer_phase(int64_t phase) const {
    PD_TRACE(400 + phase);
    jitter(d, phase);
  }
};

// xs = the bf16 vector src [K] (the embedding's, written before the launch); returns
// rsqrt(mean(src²) + eps).
__device__ float load_first_input(const void* src, int64_t K, bf16* xs, float eps, float* red) {
  const auto* s8 = static_cast<const uint4*>(src);
  auto* x8 = reinterpret_cast<uint4*>(xs);
  float ss = 0.0f;
  for (int64_t i = threadIdx.x; i < K / 8; i += kConsumers) {
    const uint4 u = __ldcg(s8 + i);
    x8[i] = u;
    const uint32_t uv[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      float a, b;
      unpack(uv[j], a, b);
      ss = fmaf(a, a, ss);
      ss = fmaf(b, b, ss);
    }
  }
  const float total = consumer_sum(ss, red);  // also the barrier after the stores to xs
  return 1.0f / sqrtf(total / static_cast<float>(K) + eps);
}

// xs = the bf16 vector of K words in ll once they carry flag; returns rsqrt(mean(x²) + eps).
__device__ float load_input(const uint64_t* ll, int64_t K, uint32_t flag, bf16* xs, float eps,
                            float* red) {
  consumers_sync();  // every warp is done with the previous phase's xs
  float ss = 0.0f;
  ll_read<kConsumers>(ll, K, flag, [&](int64_t i, uint32_t bits) {
    const bf16 b = __ushort_as_bfloat16(static_cast<unsigned short>(bits));
    xs[i] = b;
    const float f = __bfloat162float(b);
    ss = fmaf(f, f, ss);
  });
  const float total = consumer_sum(ss, red);  // also the barrier after the stores to xs
  return 1.0f / sqrtf(total / static_cast<float>(K) + eps);
}

// Shared scratch of the cell: q, k, n' of the head (DHQK each), v of the tile, then i, f, m' and
// the old m (gates[0..3]).
struct CellScratch {
  float *q, *k, *n_new, *v, *gates;
};

// This block's cell tile: (head, 32 columns of C), one per block (NH · tiles ≤ blocks).
struct CellTile {
  int64_t head, d0, nv;  // columns [d0, d0 + nv) of the head
  bool valid;
  __device__ CellTile(const PersistentDecode& d) {
    const int64_t tiles = (d.DHV + kCellCols - 1) / kCellCols;
    valid = blockIdx.x < d.NH * tiles;
    head = blockIdx.x / tiles, d0 = (blockIdx.x % tiles) * kCellCols;
    nv = min(static_cast<int64_t>(kCellCols), d.DHV - d0);
  }
  __device__ bool first_of_head() const { return valid && d0 == 0; }
};

// While the in projection streams: the tile's rows of C into L2 (a thread per row), so that
// the cell's loads do not wait on device memory behind the weight stream.
__device__ void prefetch_cell_tile(const PersistentDecode& d, const CellTile& t, const float* C0) {
  if (t.valid && threadIdx.x < d.DHQK)
    asm volatile("prefetch.global.L2::evict_last [%0];" ::"l"(
        C0 + (t.head * d.DHQK + threadIdx.x) * d.DHV + t.d0));
}

// The cell for this block's tile, in the order that puts h first: with S = q̂ᵀC (old C),
// h = (f'·S + i'·(q̂·k)·v) / (max(|f'·(q̂·n) + i'·(q̂·k)|, e^−m') + eps) — the same sums as q̂ᵀC'
// for C' = f'·C + i'·k vᵀ, grouped so that the gates (the in projection's last rows) are waited
// for last and h is stored before the tile's C' (whose stores would queue ahead of it). The
// head's first tile keeps n' = f'·n + i'·k and m' for write_n_m (other blocks of the head still
// read the old n). A thread owns row a = tid of q, k, n.
__device__ void cell_phase(const PersistentDecode& d, const LLVectors& ll, int64_t l,
                           const CellTile& t, float* C0, const float* n0, const float* m0,
                           float* red, float (*partial)[kCellCols + 1], const CellScratch& cs) {
  if (!t.valid) return;
  const int tid = threadIdx.x, tx = tid % kCellCols, ty = tid / kCellCols;
  const int64_t qk = d.NH * d.DHQK, dcol = t.d0 + tx;
  const bool col = tx < t.nv, row = tid < d.DHQK;
  float* C = C0 + t.head * d.DHQK * d.DHV + (col ? dcol : 0);
  float cv[kCellBatch];
#pragma unroll
  for (int i = 0; i < kCellBatch; ++i) {
    const int64_t a = ty + i * kConsumerWarps;
    cv[i] = col && a < d.DHQK ? C[a * d.DHV] : 0.0f;
  }
  const float n_old = row ? __ldcg(n0 + t.head * d.DHQK + tid) : 0.0f;
  // m of the head: one thread loads it and the block takes it from shared memory. The head's
  // first block overwrites m (write_n_m) once it has seen every h of the layer, so a load of the
  // old m is ordered before that only through a value this block's h depends on: n_old is
  // (through q̂·n), and so is this one load. A load in each thread would not be in the warps
  // that only update C (nothing they compute reaches h), and ptxas may schedule a load after the
  // block's barriers.
  if (tid == 0) cs.gates[3] = __ldcg(m0 + t.head);
  const uint32_t flag = 5 * l + 1;
  const uint64_t ready = static_cast<uint64_t>(flag) << 32;
  // q, k of the head and v of the tile.
  const uint64_t* pq = ll.proj + t.head * d.DHQK + tid;
  const uint64_t* pk = ll.proj + qk + t.head * d.DHQK + tid;
  const uint64_t* pv = ll.proj + 2 * qk + t.head * d.DHV + t.d0 + tid;
  uint64_t wq = row ? ll_load(pq) : ready, wk = row ? ll_load(pk) : ready;
  uint64_t wv = tid < t.nv ? ll_load(pv) : ready;
  // The gates (i at row 2qk + 2v + head, f at + NH) are asked for now and waited for last.
  const uint64_t* pg = ll.proj + 2 * qk + 2 * d.NH * d.DHV + t.head + tid * d.NH;
  uint64_t wg = tid < 2 ? ll_load(pg) : ready;
  while (!(ll_has(wq, flag) && ll_has(wk, flag) && ll_has(wv, flag))) {
    if (!ll_has(wq, flag)) wq = ll_load(pq);
    if (!ll_has(wk, flag)) wk = ll_load(pk);
    if (!ll_has(wv, flag)) wv = ll_load(pv);
  }
  const float scale = 1.0f / sqrtf(static_cast<float>(d.DHQK));
  const float qa = ll_float(wq) * scale, ka = ll_float(wk);
  if (row) cs.q[tid] = qa, cs.k[tid] = ka;
  if (tid < t.nv) cs.v[tid] = ll_float(wv);
  consumers_sync();
  const float m_prev = cs.gates[3];
  float S = 0.0f;
#pragma unroll
  for (int i = 0; i < kCellBatch; ++i) {
    const int64_t a = ty + i * kConsumerWarps;
    if (a < d.DHQK) S += cs.q[a] * cv[i];
  }
  partial[ty][tx] = S;
  const float qn = consumer_sum(row ? qa * n_old : 0.0f, red);  // also publishes partial
  const float qkv = consumer_sum(row ? qa * ka : 0.0f, red);
  if (tid < 2) {
    while (!ll_has(wg, flag)) wg = ll_load(pg);
    cs.gates[tid] = ll_float(wg);
  }
  consumers_sync();
  float i_pre = cs.gates[0], f_pre = cs.gates[1];
  if (d.gate_cap > 0.0f) {
    i_pre = d.gate_cap * tanhf(i_pre / d.gate_cap);
    f_pre = d.gate_cap * tanhf(f_pre / d.gate_cap);
  }
  const float lf = log_sigmoid(f_pre);
  const float m_new = fmaxf(lf + m_prev, i_pre);
  const float f_act = expf(lf + m_prev - m_new), i_act = expf(i_pre - m_new);
  const float denom = fmaxf(fabsf(f_act * qn + i_act * qkv), expf(-m_new)) + d.cell_eps;
  if (ty == 0 && col) {
    float sum = 0.0f;
    for (int r = 0; r < kConsumerWarps; ++r) sum += partial[r][tx];
    const float h = (f_act * sum + i_act * qkv * cs.v[tx]) / denom;
    ll_store(ll.h + t.head * d.DHV + dcol, __float_as_uint(h), 5 * l + 2);
  }
  if (col) {
    const float vd = cs.v[tx];
#pragma unroll
    for (int i = 0; i < kCellBatch; ++i) {
      const int64_t a = ty + i * kConsumerWarps;
      if (a < d.DHQK) C[a * d.DHV] = f_act * cv[i] + (i_act * cs.k[a]) * vd;
    }
  }
  if (t.first_of_head()) {
    if (row) cs.n_new[tid] = f_act * n_old + i_act * ka;
    if (tid == 0) cs.gates[2] = m_new;
  }
}

// Once every h of the layer is in (every block of every head has read the old n): the new n
// and m of the head whose first tile this block ran.
__device__ void write_n_m(const PersistentDecode& d, const CellTile& t, float* n0, float* m0,
                          const CellScratch& cs) {
  if (!t.first_of_head()) return;
  if (threadIdx.x < d.DHQK) n0[t.head * d.DHQK + threadIdx.x] = cs.n_new[threadIdx.x];
  if (threadIdx.x == 0) m0[t.head] = cs.gates[2];
}

// xs = LayerNorm(h) per head (weight, bias) · σ(o), bf16, once h (flag 5l + 2) and o (5l + 1)
// are in: one warp per head, the head's words in registers (DHV ≤ 2 · 32 · kHeadPairs).
constexpr int kHeadPairs = kMaxDHV / 64;
__device__ void load_gated_heads(const PersistentDecode& d, const LLVectors& ll, int64_t l,
                                 const PersistentLayer& w, bf16* xs) {
  consumers_sync();  // every warp is done with the previous phase's xs
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const float inv = 1.0f / static_cast<float>(d.DHV);
  const int64_t pairs = d.DHV / 2, o0 = 2 * d.NH * d.DHQK + d.NH * d.DHV;
  const uint32_t fh = 5 * l + 2, fo = 5 * l + 1;
  for (int64_t head = warp; head < d.NH; head += kConsumerWarps) {
    const int64_t off = head * d.DHV;
    ulonglong2 hv[kHeadPairs], ov[kHeadPairs];
#pragma unroll
    for (int i = 0; i < kHeadPairs; ++i) {
      const int64_t p = lane + 32 * i;
      hv[i] = p < pairs ? ll_load2(ll.h + off + 2 * p) : make_ulonglong2(0, 0);
      ov[i] = p < pairs ? ll_load2(ll.proj + o0 + off + 2 * p) : make_ulonglong2(0, 0);
    }
    bool all;
    do {
      all = true;
#pragma unroll
      for (int i = 0; i < kHeadPairs; ++i) {
        const int64_t p = lane + 32 * i;
        if (p >= pairs) continue;
        if (!ll_has(hv[i], fh)) hv[i] = ll_load2(ll.h + off + 2 * p), all = false;
        if (!ll_has(ov[i], fo)) ov[i] = ll_load2(ll.proj + o0 + off + 2 * p), all = false;
      }
    } while (!all);
    float sum = 0.0f;
#pragma unroll
    for (int i = 0; i < kHeadPairs; ++i)
      if (lane + 32 * i < pairs) sum += ll_float(hv[i].x) + ll_float(hv[i].y);
    const float mean = warp_sum(sum) * inv;
    float var = 0.0f;
#pragma unroll
    for (int i = 0; i < kHeadPairs; ++i) {
      if (lane + 32 * i >= pairs) continue;
      const float a = ll_float(hv[i].x) - mean, b = ll_float(hv[i].y) - mean;
      var += a * a + b * b;
    }
    const float r = 1.0f / sqrtf(warp_sum(var) * inv + d.norm_eps);
#pragma unroll
    for (int i = 0; i < kHeadPairs; ++i) {
      const int64_t p = lane + 32 * i;
      if (p >= pairs) continue;
      const uint64_t hw[2] = {hv[i].x, hv[i].y}, ow[2] = {ov[i].x, ov[i].y};
#pragma unroll
      for (int j = 0; j < 2; ++j) {
        const int64_t e = off + 2 * p + j;
        const float normed =
            (ll_float(hw[j]) - mean) * r * w.mh_w[e] + (w.mh_b != nullptr ? w.mh_b[e] : 0.0f);
        xs[e] = __float2bfloat16(normed * sigmoid(ll_float(ow[j])));
      }
    }
  }
  consumers_sync();
}

// x[row] += a (+ bias), its bf16 copy, and that copy's word for the other blocks.
__device__ void add_residual(const PersistentDecode& d, const LLVectors& ll, int64_t row, float a,
                             const float* bias, uint32_t flag) {
  const float v = a + (bias != nullptr ? bias[row] : 0.0f) + __ldcg(d.x + row);
  d.x[row] = v;
  const bf16 b = __float2bfloat16(v);
  static_cast<bf16*>(d.xb)[row] = b;
  ll_store(ll.xb + row, __bfloat16_as_ushort(b), flag);
}

__device__ void consumer(const PersistentDecode& d, Ring& ring, bf16* xs, float* red,
                         float (*partial)[kCellCols + 1], const CellScratch& cs) {
  const LLVectors ll(d);
  const CellTile tile(d);
  for (int64_t l = 0; l < d.L; ++l) {
    const PersistentLayer& w = d.d_layers[l];
    float* C = d.state + l * d.state_stride;
    float *n = C + d.n_offset, *m = C + d.m_offset;
    const auto f = static_cast<uint32_t>(5 * l);  // the flags of this layer: f + 1 .. f + 5
    float r = l == 0 ? load_first_input(d.xb, d.E, xs, d.norm_eps, red)
                     : load_input(ll.xb, d.E, f, xs, d.norm_eps, red);
    PD_TRACE(10 * l);
    jitter(d, kPhases * l);
    prefetch_cell_tile(d, tile, C);
    consume<false>(ring, d.E, xs, [&](int64_t row, float a, float) {
      const float y = a * r + (w.b_in != nullptr ? w.b_in[row] : 0.0f);
      ll_store(ll.proj + row, __float_as_uint(y), f + 1);
    });
    PD_TRACE(10 * l + 1);
    consumers_sync();  // the cell's scratch is free
    PD_TRACE(10 * l + 2);
    jitter(d, kPhases * l + 1);
    cell_phase(d, ll, l, tile, C, n, m, red, partial, cs);
    PD_TRACE(10 * l + 3);
    load_gated_heads(d, ll, l, w, xs);
    jitter(d, kPhases * l + 1);
    write_n_m(d, tile, n, m, cs);
    PD_TRACE(10 * l + 4);
    consume<false>(ring, d.NH * d.DHV, xs, [&](int64_t row, float a, float) {
      add_residual(d, ll, row, a, w.b_out, f + 3);
    });
    PD_TRACE(10 * l + 5);
    jitter(d, kPhases * l + 2);
    r = load_input(ll.xb, d.E, f + 3, xs, d.norm_eps, red);
    PD_TRACE(10 * l + 6);
    consume<true>(ring, d.E, xs, [&](int64_t j, float a, float b) {
      const float g = a * r + (w.b_up != nullptr ? w.b_up[j] : 0.0f);
      const float u = b * r + (w.b_up != nullptr ? w.b_up[d.F + j] : 0.0f);
      ll_store(ll.act + j, __bfloat16_as_ushort(__float2bfloat16(g * sigmoid(g) * u)), f + 4);
    });
    PD_TRACE(10 * l + 7);
    jitter(d, kPhases * l + 3);
    load_input(ll.act, d.F, f + 4, xs, 0.0f, red);
    PD_TRACE(10 * l + 8);
    consume<false>(ring, d.F, xs, [&](int64_t row, float a, float) {
      add_residual(d, ll, row, a, w.b_down, f + 5);
    });
    PD_TRACE(10 * l + 9);
  }
  if (d.lm_head == nullptr) return;
  const float r = load_input(ll.xb, d.E, static_cast<uint32_t>(5 * d.L), xs, d.norm_eps, red);
  consume<false>(ring, d.E, xs, [&](int64_t row, float a, float) {
    float y = a * r;
    if (d.logit_cap > 0.0f) y = d.logit_cap * tanhf(y / d.logit_cap);
    d.logits[row] = y;
  });
}

#endif  // sm_90

__global__ void __launch_bounds__(kThreads, 1) persistent_decode_kernel(PersistentDecode d) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  extern __shared__ __align__(1024) char smem[];
  // [full, empty barriers | stage meta | reduction scratch | the cell's tile partials | cell
  // scratch] (header), the ring's stages, then xs (the GEMV input vector, bf16).
  auto* bars = reinterpret_cast<uint64_t*>(smem);
  auto* meta = reinterpret_cast<StageMeta*>(bars + 2 * kStages);
  auto* red = reinterpret_cast<float*>(meta + kStages);
  auto* partial = reinterpret_cast<float(*)[kCellCols + 1]>(red + kConsumerWarps);
  float* cell = red + kConsumerWarps + kConsumerWarps * (kCellCols + 1);
  const CellScratch cs{cell, cell + kMaxDHQK, cell + 2 * kMaxDHQK, cell + 3 * kMaxDHQK,
                       cell + 3 * kMaxDHQK + kCellCols};
  static_assert(3 * kStages * 8 +
                    (kConsumerWarps * (kCellCols + 2) + 3 * kMaxDHQK + kCellCols + 4) * 4 <=
                kHeaderBytes);
  Ring ring{bars, bars + kStages, meta, smem + kHeaderBytes};
  auto* xs = reinterpret_cast<bf16*>(smem + kHeaderBytes + kStages * kStageBytes);
  const LargePlan plan{d};
  if (!start_ring(ring, plan)) return;  // the producer warp
  consumer(d, ring, xs, red, partial, cs);
#endif
}

size_t smem_bytes(int64_t E, int64_t v, int64_t F) {
  const int64_t widest = std::max({E, v, F});
  return kHeaderBytes + kStages * kStageBytes + static_cast<size_t>(widest) * 2;
}

const PersistentFacts& device_facts() {
  static const PersistentFacts f = persistent_facts(persistent_decode_kernel);
  return f;
}

#if XLSTM_PD_TRACE
// Timeline of layers 8 .. 23 (µs from the layer's first consumer event, mean over blocks), and
// when the producers started each phase's copies.
void dump_trace(int G) {
  static unsigned long long t[160][600];
  XLSTM_CUDA_CHECK(cudaDeviceSynchronize());
  XLSTM_CUDA_CHECK(cudaMemcpyFromSymbol(t, g_pd_trace, sizeof(t)));
  auto mean = [&](int e) {
    double s = 0;
    for (int b = 0; b < G; ++b) s += static_cast<double>(t[b][e]);
    return s / G;
  };
  auto maxv = [&](int e) {
    double m = 0;
    for (int b = 0; b < G; ++b) m = std::max(m, static_cast<double>(t[b][e]));
    return m;
  };
  const char* names[10] = {"in start", "in end",   "cell start", "cell end",   "out start",
                           "out end",  "up start", "up end",     "down start", "down end"};
  double acc_mean[10] = {}, acc_max[10] = {}, prod[4] = {}, layer = 0;
  for (int l = 8; l < 24; ++l) {
    const double t0 = mean(10 * l);
    for (int e = 0; e < 10; ++e) {
      acc_mean[e] += (mean(10 * l + e) - t0) / 16e3;
      acc_max[e] += (maxv(10 * l + e) - t0) / 16e3;
    }
    for (int p = 0; p < 4; ++p) prod[p] += (mean(400 + 4 * l + p) - t0) / 16e3;
    layer += (mean(10 * (l + 1)) - t0) / 16e3;
  }
  for (int e = 0; e < 10; ++e)
    std::fprintf(stderr, "trace %-10s mean %8.2f us  max %8.2f us\n", names[e], acc_mean[e],
                 acc_max[e]);
  for (int p = 0; p < 4; ++p)
    std::fprintf(stderr, "trace producer starts phase %d at %8.2f us\n", p, prod[p]);
  std::fprintf(stderr, "trace layer %8.2f us\n", layer);
}
#endif

}  // namespace

bool persistent_decode_supported(int64_t E, int64_t NH, int64_t DHQK, int64_t DHV, int64_t F) {
  const PersistentFacts& f = device_facts();
  const int64_t v = NH * DHV, tiles = (DHV + 31) / 32;
  if (!f.usable || E % 8 != 0 || v % 8 != 0 || F % 8 != 0) return false;
  // A thread per row of q, a warp per head (8 pairs of words per lane), one cell tile per block,
  // pairs of words from even offsets.
  if (DHQK > kMaxDHQK || DHV > kMaxDHV || DHQK % 2 != 0 || DHV % 2 != 0 || NH * tiles > f.sms)
    return false;
  // Single rows of E, v and F values and SwiGLU pairs of E must fit one stage.
  if (std::max({E, v, F}) * 2 > kStageBytes || 4 * E > kStageBytes) return false;
  return smem_bytes(E, v, F) <= static_cast<size_t>(f.smem_optin);
}

int64_t persistent_decode_words(int64_t E, int64_t NH, int64_t DHQK, int64_t DHV, int64_t F,
                                int64_t L) {
  return 2 * NH * DHQK + 2 * NH * DHV + 2 * NH + NH * DHV + E + F + 2 * L + 1;
}

void persistent_decode(const PersistentDecode& d, Stream s) {
  const PersistentFacts& f = device_facts();
  const size_t words = persistent_decode_words(d.E, d.NH, d.DHQK, d.DHV, d.F, d.L);
  XLSTM_CUDA_CHECK(cudaMemsetAsync(d.ll, 0, words * sizeof(uint64_t), s));
  launch_cooperative(persistent_decode_kernel, dim3(static_cast<unsigned>(f.sms)), dim3(kThreads),
                     smem_bytes(d.E, d.NH * d.DHV, d.F), s, d);
#if XLSTM_PD_TRACE
  if (g_launches.load() == 0 && d.L >= 24 && d.L <= 39 && f.sms <= 160) dump_trace(f.sms);
#endif
  g_launches.fetch_add(1, std::memory_order_relaxed);
}

uint64_t persistent_decode_launches() {
  return g_launches.load(std::memory_order_relaxed);
}

}  // namespace xlstm::cuda
