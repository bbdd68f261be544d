// The fused sLSTM recurrence (family_ops.h: slstm_recurrence). Grid: NH heads × G blocks per head,
// one launch for all S steps of up to max_batch sequences. Block (h, g) owns units
// e ∈ [g·U, (g+1)·U) of head h (U = DH / G) for all four gates: 4U rows of the head's recurrent
// matrix, kept in shared memory for the whole launch (or read from L2 when they do not fit).
// Per step: raw = R_slice · y_{t−1} for every sequence (a thread per column and part of d, all
// sequences at once; launches of few steps read the slice from L2 instead of staging it),
// the pointwise gates and state update of its units, then its y units go to an exchange buffer as
// flagged words (flagged_words.cuh: value and step in one 8-byte store, no fence or counter) and
// the block reads its head's whole y back once every word carries this step's flag; heads never
// wait on each other. Two buffers by step parity: a block can overwrite a buffer only after every
// block of its head has published the next step, i.e. finished reading this one. The launch is
// cooperative: every block is resident, so the waits cannot deadlock. bf16 slices that fit in
// registers take a tensor-core kernel for the dot products (slstm_tc_kernel); the rest is shared.
#include <vector>

#include "backend/cuda/common.cuh"
#include "backend/cuda/family_ops.h"
#include "backend/cuda/flagged_words.cuh"
#include "backend/cuda/mma_sm80.cuh"
#include "backend/cuda/pdl_launch.cuh"

namespace xlstm::cuda {

namespace {

struct DeviceFacts {
  int sms = 0;
  size_t smem_optin = 0;
};

DeviceFacts device_facts() {
  static const DeviceFacts facts = [] {
    DeviceFacts f;
    int dev = 0, sms = 0, smem = 0;
    XLSTM_CUDA_CHECK(cudaGetDevice(&dev));
    XLSTM_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
    XLSTM_CUDA_CHECK(cudaDeviceGetAttribute(&smem, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
    f.sms = sms;
    f.smem_optin = static_cast<size_t>(smem);
    return f;
  }();
  return facts;
}

constexpr int kThreads = 256;
// Launches of fewer steps read the recurrent slice from global memory rather than staging it.
constexpr int64_t kStageMinSteps = 8;

// Row stride of the slice in shared memory: 4U plus padding, so that the P lanes that split one
// row's dot product (d ≡ p mod P) fall in different banks.
__host__ __device__ inline int64_t slice_ld(int64_t U, size_t r_elem) {
  return 4 * U + (r_elem == 2 ? 16 : 8);
}

__host__ __device__ inline int64_t dot_parts(int64_t J, int64_t DH);

// Shared memory of one block: y_{t−1} [Bc, DH], raw [P, Bc, 4U] (the dot products' parts),
// c/n/m [Bc, U], plus the slice.
size_t smem_for(int64_t Bc, int64_t DH, int64_t U, bool smem_R, size_t r_elem) {
  const int64_t P = dot_parts(4 * U, DH);
  size_t bytes = static_cast<size_t>(Bc * DH + P * Bc * 4 * U + 3 * Bc * U) * sizeof(float);
  if (smem_R) bytes += static_cast<size_t>(DH * slice_ld(U, r_elem)) * r_elem;
  return (bytes + 15) / 16 * 16;
}

// Parts the dot products over d split into: one column per thread where the block has threads to
// spare (P · J ≤ kThreads), each part a multiple of 4 long (float4 loads of y).
__host__ __device__ inline int64_t dot_parts(int64_t J, int64_t DH) {
  int64_t P = J >= kThreads ? 1 : kThreads / J;
  while (P > 1 && DH % (4 * P) != 0) P /= 2;
  return P;
}

// out[b · ld_out] = Σ_{d < Dp} y[b, d0 + d] · col[d · ld] for b < nb ≤ NB: each slice element is
// loaded once for all the sequences, and the lanes of a warp share d (J ≥ 32), so the y loads
// are broadcasts.
template <int NB, typename TR>
__device__ inline void dot_column(const float* y, int64_t DH, const TR* col, int64_t ld, int64_t d0,
                                  int64_t Dp, int64_t nb, float* out, int64_t ld_out) {
  float acc[NB];
#pragma unroll
  for (int b = 0; b < NB; ++b) acc[b] = 0.0f;
  const float* yd = y + d0;
  int64_t d = 0;
  if ((DH % 4) == 0 && (d0 % 4) == 0) {
    for (; d + 4 <= Dp; d += 4) {
      const float r0 = load(col + d * ld), r1 = load(col + (d + 1) * ld);
      const float r2 = load(col + (d + 2) * ld), r3 = load(col + (d + 3) * ld);
#pragma unroll
      for (int b = 0; b < NB; ++b) {
        if (b < nb) {
          const float4 v = *reinterpret_cast<const float4*>(yd + b * DH + d);
          acc[b] = fmaf(v.x, r0, fmaf(v.y, r1, fmaf(v.z, r2, fmaf(v.w, r3, acc[b]))));
        }
      }
    }
  }
  for (; d < Dp; ++d) {
    const float r = load(col + d * ld);
#pragma unroll
    for (int b = 0; b < NB; ++b)
      if (b < nb) acc[b] = fmaf(yd[b * DH + d], r, acc[b]);
  }
#pragma unroll
  for (int b = 0; b < NB; ++b)
    if (b < nb) out[b * ld_out] = acc[b];
}

// The pointwise gates and state update of one unit (column col of E) of one sequence: r the
// recurrent dot products and w the input projections of its i, f, z, o gates; c, n, m advanced in
// place; returns y. Stabilized exponential gating (spec §3.2); m restarts from ĩ where n = 0 (the
// official CUDA backend's rule, per element).
__device__ __forceinline__ float slstm_cell(const float (&r)[4], const float (&w)[4],
                                            const float* bias, int64_t E, int64_t col, float& c,
                                            float& n, float& m) {
  const float ri = r[0] + w[0] + bias[col];
  const float rf = r[1] + w[1] + bias[E + col];
  const float rz = r[2] + w[2] + bias[2 * E + col];
  const float ro = r[3] + w[3] + bias[3 * E + col];
  const float lfm = m + log_sigmoid(rf);
  const float m_new = n == 0.0f ? ri : fmaxf(ri, lfm);
  const float ig = fminf(expf(ri - m_new), 1.0f);
  const float fg = fminf(expf(lfm - m_new), 1.0f);
  c = fg * c + ig * tanhf(rz);
  n = fg * n + ig;
  m = m_new;
  return sigmoid(ro) * c / n;
}

// The per-step work after the dot products, shared by both kernels: the pointwise gates and state
// update of the block's units (raw [P, B, J]: the dot products' parts, summed in order), y out,
// then the exchange of the head's y through the flagged words into y_prev (row stride ld_y).
// pre: this step's input contributions for item tid, loaded before the dot products.
__device__ __forceinline__ void pointwise_and_exchange(const SlstmRecurrence& x, int64_t G,
                                                       int64_t P, const float* raw, float* cs,
                                                       float* ns, float* ms, const float (&pre)[4],
                                                       int64_t t, uint64_t* xchg, float* y_prev,
                                                       int64_t ld_y) {
  const int64_t B = x.B, S = x.S, E = x.E, DH = x.DH, U = DH / G, J = 4 * U;
  const int64_t h = blockIdx.x / G, g = blockIdx.x % G;
  const int tid = threadIdx.x;
  uint64_t* out = xchg + (t & 1) * B * E;
  const auto flag = static_cast<uint32_t>(t + 1);
  for (int64_t i = tid; i < B * U; i += kThreads) {
    const int64_t b = i / U, u = i % U, col = h * DH + g * U + u;
    float w[4];
    if (i == tid) {
      for (int k = 0; k < 4; ++k) w[k] = pre[k];
    } else {
      const float* wif = x.wx_if + (b * S + t) * 2 * E;
      const float* wzo = x.wx_zo + (b * S + t) * 2 * E;
      w[0] = wif[col], w[1] = wif[E + col], w[2] = wzo[col], w[3] = wzo[E + col];
    }
    float r[4] = {0, 0, 0, 0};
    for (int64_t part = 0; part < P; ++part) {
      const float* rr = raw + (part * B + b) * J;
      for (int k = 0; k < 4; ++k) r[k] += rr[k * U + u];
    }
    const float y = slstm_cell(r, w, x.bias, E, col, cs[i], ns[i], ms[i]);
    x.y[(b * S + t) * E + col] = y;
    ll_store(out + h * B * DH + b * DH + g * U + u, __float_as_uint(y), flag);
  }
  // Every block of the head publishes its units; each reads the head's whole y back (the
  // buffer holds head h's [B, DH] words contiguously: one read for all sequences).
  if (ld_y == DH) {
    ll_read<kThreads>(out + h * B * DH, B * DH, flag,
                      [&](int64_t i, uint32_t bits) { y_prev[i] = __uint_as_float(bits); });
  } else {
    const int dh = static_cast<int>(DH);
    ll_read<kThreads>(out + h * B * DH, B * DH, flag, [&](int64_t i, uint32_t bits) {
      const int k = static_cast<int>(i);
      y_prev[(k / dh) * ld_y + k % dh] = __uint_as_float(bits);
    });
  }
  __syncthreads();
}

// This step's input contributions for pointwise item tid (if any): loaded before the dot
// products, so that their latency overlaps them.
__device__ __forceinline__ void load_pre(const SlstmRecurrence& x, int64_t G, int64_t t,
                                         float (&pre)[4]) {
  const int64_t E = x.E, DH = x.DH, U = DH / G, h = blockIdx.x / G, g = blockIdx.x % G;
  const int tid = threadIdx.x;
  pre[0] = pre[1] = pre[2] = pre[3] = 0.0f;
  if (tid < x.B * U) {
    const int64_t b = tid / U, col = h * DH + g * U + tid % U;
    const float* wif = x.wx_if + (b * x.S + t) * 2 * E;
    const float* wzo = x.wx_zo + (b * x.S + t) * 2 * E;
    pre[0] = wif[col];
    pre[1] = wif[E + col];
    pre[2] = wzo[col];
    pre[3] = wzo[E + col];
  }
}

// The block's state in (y of the whole head, row stride ld_y; c, n, m of its units) and out.
__device__ __forceinline__ void load_state(const SlstmRecurrence& x, int64_t G, float* y_prev,
                                           int64_t ld_y, float* cs, float* ns, float* ms) {
  const int64_t E = x.E, DH = x.DH, U = DH / G, h = blockIdx.x / G, g = blockIdx.x % G;
  for (int64_t i = threadIdx.x; i < x.B * DH; i += kThreads)
    y_prev[(i / DH) * ld_y + i % DH] = x.sy[(i / DH) * E + h * DH + i % DH];
  for (int64_t i = threadIdx.x; i < x.B * U; i += kThreads) {
    const int64_t col = (i / U) * E + h * DH + g * U + i % U;
    cs[i] = x.sc[col];
    ns[i] = x.sn[col];
    ms[i] = x.sm[col];
  }
}
__device__ __forceinline__ void store_state(const SlstmRecurrence& x, int64_t G,
                                            const float* y_prev, int64_t ld_y, const float* cs,
                                            const float* ns, const float* ms) {
  const int64_t E = x.E, DH = x.DH, U = DH / G, h = blockIdx.x / G, g = blockIdx.x % G;
  for (int64_t i = threadIdx.x; i < x.B * U; i += kThreads) {
    const int64_t b = i / U, u = i % U, col = b * E + h * DH + g * U + u;
    x.sc[col] = cs[i];
    x.sn[col] = ns[i];
    x.sm[col] = ms[i];
    x.sy[col] = y_prev[b * ld_y + g * U + u];
  }
}

template <typename TR>
__global__ void __launch_bounds__(kThreads)
    slstm_kernel(SlstmRecurrence x, int G, bool smem_R, const TR* R, uint64_t* xchg) {
  extern __shared__ __align__(16) unsigned char smem[];
  const int64_t B = x.B, S = x.S, DH = x.DH, U = DH / G, J = 4 * U;
  const int64_t h = blockIdx.x / G, g = blockIdx.x % G;
  const int tid = threadIdx.x;
  float* y_prev = reinterpret_cast<float*>(smem);  // [B, DH]
  float* raw = y_prev + B * DH;                    // [P, B, J]
  float* cs = raw + dot_parts(J, DH) * B * J;      // [B, U]
  float* ns = cs + B * U;
  float* ms = ns + B * U;
  const TR* slice = R + (h * G + g) * DH * J;  // [DH, J] in global memory
  int64_t ld = J;
  if (smem_R) {
    TR* s_slice = reinterpret_cast<TR*>(ms + B * U);
    ld = slice_ld(U, sizeof(TR));
    for (int64_t i = tid; i < DH * J; i += kThreads) s_slice[(i / J) * ld + i % J] = slice[i];
    slice = s_slice;
  }
  load_state(x, G, y_prev, DH, cs, ns, ms);
  const int64_t P = dot_parts(J, DH), Dp = DH / P;
  __syncthreads();
  for (int64_t t = 0; t < S; ++t) {
    float pre[4];
    load_pre(x, G, t, pre);
    // Column c = (part, j): part `part` of the dot products y_{t−1}[b, :] · slice[:, j] of every
    // sequence b, into raw[part, b, j].
    for (int64_t c = tid; c < P * J; c += kThreads) {
      const int64_t part = c / J, j = c % J;
      if (B == 1) {
        dot_column<1>(y_prev, DH, slice + part * Dp * ld + j, ld, part * Dp, Dp, 1,
                      raw + part * B * J + j, J);
      } else if (B <= 4) {
        dot_column<4>(y_prev, DH, slice + part * Dp * ld + j, ld, part * Dp, Dp, B,
                      raw + part * B * J + j, J);
      } else {
        for (int64_t b0 = 0; b0 < B; b0 += 8)
          dot_column<8>(y_prev + b0 * DH, DH, slice + part * Dp * ld + j, ld, part * Dp, Dp,
                        B - b0 < 8 ? B - b0 : 8, raw + (part * B + b0) * J + j, J);
      }
    }
    __syncthreads();
    pointwise_and_exchange(x, G, P, raw, cs, ns, ms, pre, t, xchg, y_prev, DH);
  }
  store_state(x, G, y_prev, DH, cs, ns, ms);
}

// The tensor-core kernel (bf16 R): the block's slice, [DH, J] with J = 4U rows of gate units,
// lives in registers for the whole launch as mma.m16n8k16 A fragments (A = sliceᵀ, [J, DH]).
// Warp w takes m-tile w % MT (MT = J / 16) and k-part w / MT of the head dim (KP = 8 / MT parts,
// KT k-tiles each); y_{t−1} is the B operand, 8 sequences per n-tile, split into bf16 high and
// low halves (y ≈ hi + lo to ~2⁻¹⁷ relative) so that the products keep float32-like accuracy:
// R is exact in bf16, and each product accumulates in float32. raw [KP, B, J] as the CUDA-core
// kernel's parts. y_prev rows are padded to ld_y ≡ 8 (mod 32) words: the warp's eight sequences
// × four k pairs hit distinct banks.
constexpr int kTcMaxKTiles = 16;  // k-tiles per warp: 64 registers of A fragments
constexpr int kTcMaxNTiles = 4;   // 8 sequences each: at most 32 per launch

__host__ __device__ inline int64_t tc_ld_y(int64_t DH) {
  return (DH + 31) / 32 * 32 + 8;
}

// The k-tiles per warp of a tensor-core plan, or 0 when the shape does not take it.
__host__ __device__ inline int tc_k_tiles(int64_t DH, int64_t U) {
  const int64_t J = 4 * U;
  if (J % 16 != 0 || DH % 16 != 0) return 0;
  const int64_t MT = J / 16;
  if (MT > kThreads / 32 || (kThreads / 32) % MT != 0) return 0;
  const int64_t KP = kThreads / 32 / MT, KT = DH / 16;
  if (KT % KP != 0 || KT / KP > kTcMaxKTiles) return 0;
  return static_cast<int>(KT / KP);
}

// Shared memory of a tensor-core block: y_{t−1} [Bc, ld_y], raw [KP, Bc, J], c/n/m [Bc, U].
size_t smem_for_tc(int64_t Bc, int64_t DH, int64_t U) {
  const int64_t J = 4 * U, KP = kThreads / 32 / (J / 16);
  const size_t bytes = static_cast<size_t>(Bc * tc_ld_y(DH) + KP * Bc * J + 3 * Bc * U) * 4;
  return (bytes + 15) / 16 * 16;
}

// y's pair (k, k + 1) as bf16 high and low halves.
__device__ __forceinline__ void split_pair(float2 v, uint32_t& hi, uint32_t& lo) {
  hi = pack_bf16(v.x, v.y);
  const __nv_bfloat162 h = *reinterpret_cast<const __nv_bfloat162*>(&hi);
  lo = pack_bf16(v.x - __low2float(h), v.y - __high2float(h));
}

__global__ void __launch_bounds__(kThreads)
    slstm_tc_kernel(SlstmRecurrence x, int G, const bf16* R, uint64_t* xchg) {
  extern __shared__ __align__(16) unsigned char smem[];
  const int64_t B = x.B, S = x.S, DH = x.DH, U = DH / G, J = 4 * U, ld_y = tc_ld_y(DH);
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int grp = lane / 4, tig = lane % 4;
  const int MT = static_cast<int>(J / 16), KP = kThreads / 32 / MT;
  const int KTW = tc_k_tiles(DH, U), mt = warp % MT, kp = warp / MT;
  const int NT = static_cast<int>((B + 7) / 8);
  float* y_prev = reinterpret_cast<float*>(smem);  // [B, ld_y]
  float* raw = y_prev + B * ld_y;                  // [KP, B, J]
  float* cs = raw + KP * B * J;                    // [B, U]
  float* ns = cs + B * U;
  float* ms = ns + B * U;
  // A fragments: a[kt] of k-tile kp·KTW + kt, arranged in this order on the host.
  const int64_t j0 = mt * 16 + grp;
  const uint4* frag =
      reinterpret_cast<const uint4*>(R) + (blockIdx.x * (kThreads / 32) + warp) * KTW * 32 + lane;
  uint32_t a[kTcMaxKTiles][4];
#pragma unroll
  for (int kt = 0; kt < kTcMaxKTiles; ++kt) {
    if (kt < KTW) {
      const uint4 v = frag[kt * 32];
      a[kt][0] = v.x, a[kt][1] = v.y, a[kt][2] = v.z, a[kt][3] = v.w;
    }
  }
  load_state(x, G, y_prev, ld_y, cs, ns, ms);
  __syncthreads();
  for (int64_t t = 0; t < S; ++t) {
    float pre[4];
    load_pre(x, G, t, pre);
#pragma unroll
    for (int nt = 0; nt < kTcMaxNTiles; ++nt) {
      if (nt >= NT) break;
      // Four accumulators (high and low halves of y, even and odd k-tiles): short dependency
      // chains of the mma's.
      float acc[4][4] = {};
      const int64_t b = nt * 8 + grp;
      const float* yr = y_prev + b * ld_y + kp * KTW * 16 + 2 * tig;
#pragma unroll
      for (int kt = 0; kt < kTcMaxKTiles; ++kt) {
        if (kt < KTW) {
          float2 v0 = make_float2(0, 0), v1 = make_float2(0, 0);
          if (b < B) {
            v0 = *reinterpret_cast<const float2*>(yr + kt * 16);
            v1 = *reinterpret_cast<const float2*>(yr + kt * 16 + 8);
          }
          uint32_t hi0, lo0, hi1, lo1;
          split_pair(v0, hi0, lo0);
          split_pair(v1, hi1, lo1);
          mma_bf16(acc[kt % 2], a[kt], hi0, hi1);
          mma_bf16(acc[2 + kt % 2], a[kt], lo0, lo1);
        }
      }
      // C fragment: rows j0 and j0 + 8, columns (sequences) nt·8 + 2·tig and + 1.
      const int64_t bc = nt * 8 + 2 * tig;
      float* rp = raw + kp * B * J;
      float sum[4];
      for (int r = 0; r < 4; ++r) sum[r] = (acc[0][r] + acc[1][r]) + (acc[2][r] + acc[3][r]);
      if (bc < B) {
        rp[bc * J + j0] = sum[0];
        rp[bc * J + j0 + 8] = sum[2];
      }
      if (bc + 1 < B) {
        rp[(bc + 1) * J + j0] = sum[1];
        rp[(bc + 1) * J + j0 + 8] = sum[3];
      }
    }
    __syncthreads();
    pointwise_and_exchange(x, G, KP, raw, cs, ns, ms, pre, t, xchg, y_prev, ld_y);
  }
  store_state(x, G, y_prev, ld_y, cs, ns, ms);
}

// One step for a few sequences (decode): the step reads y_{t−1} only from the state, so no block
// waits on another. A warp per unit (h, e) takes its four gates' rows of R (the vanilla layout
// [NH, 4·DH, DH], bf16) against y_{t−1} of every sequence, 8 columns per lane and load, then the
// warp's sums; lane b runs sequence b's pointwise update. The new y goes to x.y only (other warps
// still read the state's y). NB ≥ x.B: the accumulators' rows (fewer registers for fewer
// sequences: one wave of warps at E = 2048).
//
// kProjected: the step's four headwise gate projections in the same warps: each warp also takes
// its four rows of the headwise weights against the head's slice of xc (i, f) or u (z, o), in
// the order of headwise_pair_kernel (the same bits as that launch), and the last block to finish
// copies y into the state (the other blocks read the state's y until then): one launch where
// the split path takes three and a copy. Without it the gate inputs come from x.wx_if / x.wx_zo
// and slstm_step copies y after the launch.
constexpr int kStepWarps = 8;
template <int NB, bool kProjected>
__global__ void __launch_bounds__(kStepWarps * 32)
    slstm_step_kernel(SlstmRecurrence x, const bf16* R, SlstmStepProjections p, unsigned* counter) {
  const int64_t E = x.E, DH = x.DH;
  const int64_t col = blockIdx.x * static_cast<int64_t>(kStepWarps) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (col < E) {
    const int64_t h = col / DH, e = col % DH;
    const auto* W_if = static_cast<const bf16*>(p.W_if);
    const auto* W_zo = static_cast<const bf16*>(p.W_zo);
    const uint4 *rows[4], *wrows[4];  // gate g's row of R and of its headwise weight
#pragma unroll
    for (int g = 0; g < 4; ++g) {
      rows[g] = reinterpret_cast<const uint4*>(R + ((h * 4 + g) * DH + e) * DH);
      if constexpr (kProjected)
        wrows[g] = reinterpret_cast<const uint4*>((g < 2 ? W_if : W_zo) + ((g % 2) * E + col) * DH);
    }
    const auto* xc = static_cast<const bf16*>(p.xc);
    const auto* u = static_cast<const bf16*>(p.u);
    float acc[4][NB] = {}, accw[4][NB] = {};
    for (int64_t i = lane; i < DH / 8; i += 32) {
      uint4 rv[4], wv[4];
#pragma unroll
      for (int g = 0; g < 4; ++g) {
        rv[g] = rows[g][i];
        if constexpr (kProjected) wv[g] = wrows[g][i];
      }
#pragma unroll
      for (int b = 0; b < NB; ++b) {
        if (b >= x.B) break;
        const float* y = x.sy + b * E + h * DH + 8 * i;
        const float4 y0 = load4(y), y1 = load4(y + 4);
        const float yv[8] = {y0.x, y0.y, y0.z, y0.w, y1.x, y1.y, y1.z, y1.w};
        uint4 in[2];
        if constexpr (kProjected) {
          in[0] = reinterpret_cast<const uint4*>(xc + b * E + h * DH)[i];
          in[1] = reinterpret_cast<const uint4*>(u + b * E + h * DH)[i];
        }
#pragma unroll
        for (int g = 0; g < 4; ++g) {
          const auto* rp = reinterpret_cast<const __nv_bfloat162*>(&rv[g]);
#pragma unroll
          for (int j = 0; j < 4; ++j) {
            const float2 r2 = __bfloat1622float2(rp[j]);
            acc[g][b] = fmaf(yv[2 * j], r2.x, acc[g][b]);
            acc[g][b] = fmaf(yv[2 * j + 1], r2.y, acc[g][b]);
            if constexpr (kProjected) {
              const auto* wp = reinterpret_cast<const __nv_bfloat162*>(&wv[g]);
              const auto* xp = reinterpret_cast<const __nv_bfloat162*>(&in[g / 2]);
              const float2 w2 = __bfloat1622float2(wp[j]), x2 = __bfloat1622float2(xp[j]);
              accw[g][b] = fmaf(w2.x, x2.x, accw[g][b]);
              accw[g][b] = fmaf(w2.y, x2.y, accw[g][b]);
            }
          }
        }
      }
    }
#pragma unroll
    for (int b = 0; b < NB; ++b) {
      if (b >= x.B) break;
      float r[4], w[4] = {};
#pragma unroll
      for (int g = 0; g < 4; ++g) {
        r[g] = warp_sum(acc[g][b]);
        if constexpr (kProjected) w[g] = warp_sum(accw[g][b]);
      }
      if (lane != b) continue;
      const int64_t i = b * E + col;
      if constexpr (!kProjected) {  // S = 1: the gate inputs' row b
        const int64_t row = b * 2 * E;
        w[0] = x.wx_if[row + col], w[1] = x.wx_if[row + E + col];
        w[2] = x.wx_zo[row + col], w[3] = x.wx_zo[row + E + col];
      }
      float c = x.sc[i], n = x.sn[i], m = x.sm[i];
      const float y = slstm_cell(r, w, x.bias, E, col, c, n, m);
      x.sc[i] = c, x.sn[i] = n, x.sm[i] = m;
      x.y[i] = y;  // S = 1: row b of y
    }
  }
  if constexpr (kProjected) {
    // The last block copies y into the state, once every block is done reading the state's y.
    __threadfence();  // this thread's y is visible device-wide before the count says so
    __syncthreads();
    __shared__ bool last;
    if (threadIdx.x == 0) last = atomicAdd(counter, 1u) == gridDim.x - 1;
    __syncthreads();
    if (!last) return;
    __threadfence();
    for (int64_t i = threadIdx.x; i < x.B * E; i += blockDim.x) x.sy[i] = __ldcg(x.y + i);
    if (threadIdx.x == 0) *counter = 0;  // ready for the next launch
  }
}

// slstm_step_kernel<NB, kProjected> for x.B sequences (1 .. kHeadwiseMaxRows).
template <bool kProjected>
void launch_step(const SlstmRecurrence& x, const bf16* R, const SlstmStepProjections& p,
                 unsigned* counter, Stream s) {
  static_assert(kHeadwiseMaxRows == 4);
  const unsigned blocks = blocks_for(x.E, kStepWarps), threads = kStepWarps * 32;
  if (x.B == 1) {
    slstm_step_kernel<1, kProjected><<<blocks, threads, 0, s>>>(x, R, p, counter);
  } else if (x.B == 2) {
    slstm_step_kernel<2, kProjected><<<blocks, threads, 0, s>>>(x, R, p, counter);
  } else {
    slstm_step_kernel<4, kProjected><<<blocks, threads, 0, s>>>(x, R, p, counter);
  }
  XLSTM_CUDA_CHECK_LAUNCH();
}

// The shapes and operands both decode steps take (slstm_step's conditions, family_ops.h).
bool step_takes(const SlstmRecurrence& x, const void* R_rows) {
  return x.S == 1 && x.B >= 1 && x.B <= kHeadwiseMaxRows && x.DH % 8 == 0 && R_rows != nullptr &&
         aligned16(R_rows) && aligned16(x.sy) && x.E % 4 == 0;
}

}  // namespace

// Dynamic shared memory the kernels may use, raised once per size (not a stream operation, but
// kept out of the launches so that graph capture sees only launches).
template <typename Kernel>
void allow_smem(Kernel kernel, size_t bytes, size_t& allowed) {
  if (bytes <= allowed) return;
  XLSTM_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                        static_cast<int>(bytes)));
  allowed = bytes;
}

SlstmPlan slstm_plan(int64_t NH, int64_t DH, WeightType r_type, bool allow_tensor_cores) {
  const DeviceFacts f = device_facts();
  const size_t elem = r_type == WeightType::BF16 ? 2 : 4;
  const size_t budget = std::min<size_t>(f.smem_optin, 200 * 1024);
  SlstmPlan p;
  // As many blocks per head as the SMs allow (one block per SM; up to 64, at least 4 units
  // each): the per-step work splits, the exchange costs about the same. The slice stays in
  // shared memory when it fits, else it is read from L2.
  p.G = 1;
  while (p.G < 64 && DH % (2 * p.G) == 0 && DH / (2 * p.G) >= 4 && NH * 2 * p.G <= f.sms) p.G *= 2;
  const int64_t U = DH / p.G;
  p.smem_R = smem_for(1, DH, U, true, elem) <= budget;
  // The CUDA-core kernel's launches, and the tensor-core kernel's (bf16 slices that fit in
  // registers as mma fragments; at most kTcMaxNTiles · 8 sequences).
  int64_t cc_batch = 1;
  while (cc_batch < 256 && smem_for(cc_batch * 2, DH, U, p.smem_R, elem) <= budget) cc_batch *= 2;
  p.tensor_cores = allow_tensor_cores && r_type == WeightType::BF16 && tc_k_tiles(DH, U) > 0 &&
                   smem_for_tc(8, DH, U) <= budget && cc_batch >= kSlstmTensorCoreMinBatch;
  int64_t tc_batch = 0;
  if (p.tensor_cores) {
    tc_batch = 8;
    while (tc_batch < 8 * kTcMaxNTiles && smem_for_tc(tc_batch * 2, DH, U) <= budget) tc_batch *= 2;
  }
  p.max_batch = static_cast<int>(p.tensor_cores ? tc_batch : cc_batch);
  static size_t allowed[3] = {0, 0, 0};
  const int64_t cc_launch = p.tensor_cores ? kSlstmTensorCoreMinBatch : cc_batch;
  const size_t cc_bytes = smem_for(cc_launch, DH, U, p.smem_R, elem);
  if (r_type == WeightType::BF16) {
    allow_smem(slstm_kernel<bf16>, cc_bytes, allowed[1]);
  } else {
    allow_smem(slstm_kernel<float>, cc_bytes, allowed[0]);
  }
  if (p.tensor_cores) allow_smem(slstm_tc_kernel, smem_for_tc(tc_batch, DH, U), allowed[2]);
  p.threads = kThreads;
  return p;
}

std::vector<float> slstm_arrange_recurrent(const std::vector<float>& R, int64_t NH, int64_t DH,
                                           int G) {
  const int64_t U = DH / G, J = 4 * U;
  std::vector<float> out(R.size());
  for (int64_t h = 0; h < NH; ++h)
    for (int64_t g = 0; g < G; ++g)
      for (int64_t d = 0; d < DH; ++d)
        for (int64_t j = 0; j < J; ++j)
          out[((h * G + g) * DH + d) * J + j] =
              R[(h * 4 * DH + (j / U) * DH + g * U + j % U) * DH + d];
  return out;
}

std::vector<float> slstm_arrange_fragments(const std::vector<float>& R, int64_t NH, int64_t DH,
                                           const SlstmPlan& p) {
  if (!p.tensor_cores) throw Error(tagged("cuda", "sLSTM: fragments need a tensor-core plan"));
  const int64_t G = p.G, U = DH / G, J = 4 * U;
  // [block][warp][k-tile][lane][8]: a0..a3 of mma.m16n8k16 (A = sliceᵀ: row j, column d), two
  // elements each, as slstm_tc_kernel reads them. Element (j, d) of block (h, g): gate j / U,
  // unit g·U + j % U, column d.
  const int64_t MT = J / 16, KTW = tc_k_tiles(DH, U);
  std::vector<float> out(R.size());
  size_t o = 0;
  for (int64_t h = 0; h < NH; ++h)
    for (int64_t g = 0; g < G; ++g)
      for (int64_t w = 0; w < kThreads / 32; ++w)
        for (int64_t kt = 0; kt < KTW; ++kt)
          for (int64_t lane = 0; lane < 32; ++lane) {
            const int64_t j0 = (w % MT) * 16 + lane / 4;
            const int64_t d0 = ((w / MT) * KTW + kt) * 16 + 2 * (lane % 4);
            for (int64_t r = 0; r < 4; ++r) {
              const int64_t j = j0 + (r % 2) * 8, d = d0 + (r / 2) * 8;
              const float* row = R.data() + (h * 4 * DH + (j / U) * DH + g * U + j % U) * DH;
              out[o++] = row[d];
              out[o++] = row[d + 1];
            }
          }
  return out;
}

// Scratch: the exchange buffer of flagged words [2, NH, Bc, DH] (step parity, head, sequence,
// unit).
size_t slstm_scratch_bytes(const SlstmPlan& p, int64_t, int64_t E) {
  return static_cast<size_t>(2 * p.max_batch * E) * sizeof(uint64_t);
}

void slstm_recurrence(const SlstmRecurrence& x, const SlstmPlan& p, void* d_scratch, Stream s) {
  if (x.S == 0 || x.B == 0) return;
  if (x.DH % 2 != 0) throw Error(tagged("cuda", "sLSTM head dim must be even on the GPU"));
  if (p.tensor_cores && (x.r_type != WeightType::BF16 || x.R_frag == nullptr))
    throw Error(tagged("cuda", "sLSTM: a tensor-core plan needs the bf16 fragments (R_frag)"));
  auto* xchg = static_cast<uint64_t*>(d_scratch);
  const int64_t U = x.DH / p.G;
  const size_t elem = x.r_type == WeightType::BF16 ? 2 : 4;
  for (int64_t b0 = 0; b0 < x.B; b0 += p.max_batch) {
    SlstmRecurrence part = x;
    part.B = std::min<int64_t>(p.max_batch, x.B - b0);
    part.wx_if = x.wx_if + b0 * x.S * 2 * x.E;
    part.wx_zo = x.wx_zo + b0 * x.S * 2 * x.E;
    part.y = x.y + b0 * x.S * x.E;
    part.sy = x.sy + b0 * x.E;
    part.sc = x.sc + b0 * x.E;
    part.sn = x.sn + b0 * x.E;
    part.sm = x.sm + b0 * x.E;
    // Staging the slice in shared memory pays off over many steps; a decode step reads it
    // straight from global memory (L2) instead of copying it first.
    const bool stage = p.smem_R && x.S >= kStageMinSteps;
    const bool tc = p.tensor_cores && part.B > kSlstmTensorCoreMinBatch;
    const size_t smem = tc ? smem_for_tc(part.B, x.DH, U) : smem_for(part.B, x.DH, U, stage, elem);
    // Flags of an earlier launch must not match this one's steps.
    XLSTM_CUDA_CHECK(cudaMemsetAsync(xchg, 0, 2 * part.B * x.E * sizeof(uint64_t), s));
    const dim3 grid(static_cast<unsigned>(x.NH * p.G)), block(static_cast<unsigned>(p.threads));
    if (tc) {
      launch_cooperative(slstm_tc_kernel, grid, block, smem, s, part, p.G,
                         static_cast<const bf16*>(x.R_frag), xchg);
    } else if (x.r_type == WeightType::BF16) {
      launch_cooperative(slstm_kernel<bf16>, grid, block, smem, s, part, p.G, stage,
                         static_cast<const bf16*>(x.R), xchg);
    } else {
      launch_cooperative(slstm_kernel<float>, grid, block, smem, s, part, p.G, stage,
                         static_cast<const float*>(x.R), xchg);
    }
  }
}

bool slstm_step(const SlstmRecurrence& x, const void* R_rows, Stream s) {
  if (!step_takes(x, R_rows)) return false;
  launch_step<false>(x, static_cast<const bf16*>(R_rows), SlstmStepProjections{}, nullptr, s);
  XLSTM_CUDA_CHECK(cudaMemcpyAsync(x.sy, x.y, static_cast<size_t>(x.B * x.E) * sizeof(float),
                                   cudaMemcpyDeviceToDevice, s));
  return true;
}

bool slstm_step_projected(const SlstmRecurrence& x, const void* R_rows,
                          const SlstmStepProjections& p, unsigned* counter, Stream s) {
  const bool operands = p.xc != nullptr && p.u != nullptr && p.W_if != nullptr &&
                        p.W_zo != nullptr && counter != nullptr && aligned16(p.xc) &&
                        aligned16(p.u) && aligned16(p.W_if) && aligned16(p.W_zo);
  if (!step_takes(x, R_rows) || !operands) return false;
  launch_step<true>(x, static_cast<const bf16*>(R_rows), p, counter, s);
  return true;
}

}  // namespace xlstm::cuda
