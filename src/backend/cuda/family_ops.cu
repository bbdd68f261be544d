// The family's small kernels: group LayerNorm, causal conv, mLSTM v1 q/k/v and output, gates.
#include "backend/cuda/common.cuh"
#include "backend/cuda/family_ops.h"
#include "backend/cuda/head_norm.cuh"
#include "backend/cuda/mlstm_v1_inputs.cuh"

namespace xlstm::cuda {

namespace {

constexpr int kThreads = 256;
// Calls of at most this many steps convolve sequentially (decode), longer ones in parallel.
constexpr int64_t kConvStepsMax = 4;

// One block per (row, group): decode rows are few and wide (one warp per row left a token's
// norms latency-bound). Rows of at most kNormPerThread · blockDim.x stay in registers between
// the passes (one global read); longer ones are read again.
constexpr int kNormPerThread = 8;

// mLSTM v1's output gate, applied to the normed value (kGate): (hn + skip · c) · SiLU(z) at
// column j of the row (c [T, G·D], z rows at z_stride).
struct V1Gate {
  const float* c = nullptr;
  const float* skip = nullptr;
  const float* z = nullptr;
  int64_t z_stride = 0;
};

// Mean and 1 / sqrt(biased variance + eps) of a row xr of D ≤ kNormPerThread · blockDim.x values,
// by the whole block; v gets the thread's values (d = thread + i · blockDim.x, 0 past D). The
// LayerNorm kernels share it, so that they give the same bits.
struct RowStats {
  float mean, r;
};
__device__ __forceinline__ RowStats row_stats(const float* xr, int64_t D, float eps,
                                              float (&v)[kNormPerThread]) {
  const auto n = static_cast<float>(D);
  float sum = 0.0f, var = 0.0f;
#pragma unroll
  for (int i = 0; i < kNormPerThread; ++i) {
    const int64_t d = threadIdx.x + i * static_cast<int64_t>(blockDim.x);
    v[i] = d < D ? xr[d] : 0.0f;
    sum += v[i];
  }
  const float mean = block_sum(sum) / n;
#pragma unroll
  for (int i = 0; i < kNormPerThread; ++i) {
    const int64_t d = threadIdx.x + i * static_cast<int64_t>(blockDim.x);
    if (d < D) var += (v[i] - mean) * (v[i] - mean);
  }
  return {mean, rsqrtf(block_sum(var) / n + eps)};
}

template <typename T, bool kGate>
__global__ void group_layer_norm_kernel(const float* x, int64_t G, int64_t D, int64_t x_stride,
                                        const float* w, float eps, T* y, bool accumulate,
                                        V1Gate gate) {
  const int64_t t = blockIdx.x, gidx = blockIdx.y;
  const float* xr = x + t * x_stride + gidx * D;
  T* yr = y + t * G * D + gidx * D;
  const float* wr = w + gidx * D;
  auto put = [&](int64_t d, float out) {
    if constexpr (kGate) {
      const int64_t j = gidx * D + d;
      const float zj = gate.z[t * gate.z_stride + j];
      out = gate_output(out, zj, V1Skip{gate.skip + gidx * D, gate.c + t * G * D + gidx * D}, d);
    }
    if constexpr (std::is_same_v<T, float>) {
      yr[d] = accumulate ? yr[d] + out : out;
    } else {
      store(yr + d, out);
    }
  };
  const auto n = static_cast<float>(D);
  if (D <= kNormPerThread * static_cast<int64_t>(blockDim.x)) {
    float v[kNormPerThread];
    const RowStats st = row_stats(xr, D, eps, v);
#pragma unroll
    for (int i = 0; i < kNormPerThread; ++i) {
      const int64_t d = threadIdx.x + i * static_cast<int64_t>(blockDim.x);
      if (d < D) put(d, (v[i] - st.mean) * st.r * wr[d]);
    }
    return;
  }
  float sum = 0.0f;
  for (int64_t d = threadIdx.x; d < D; d += blockDim.x) sum += xr[d];
  const float mean = block_sum(sum) / n;
  float var = 0.0f;
  for (int64_t d = threadIdx.x; d < D; d += blockDim.x) var += (xr[d] - mean) * (xr[d] - mean);
  const float r = rsqrtf(block_sum(var) / n + eps);
  for (int64_t d = threadIdx.x; d < D; d += blockDim.x) put(d, (xr[d] - mean) * r * wr[d]);
}

// Outputs in parallel over (b, t, f): y_t reads x_{t−KS+1..t}, the older ones from the window.
// The row b·S + t from blockIdx.y (row_grid; at most 65,535 rows) or, like f, from the index.
__global__ void causal_conv_kernel(const float* x, int64_t x_stride, int64_t B, int64_t S,
                                   int64_t F, const float* w, const float* bias, int64_t KS,
                                   const float* state, float* y, bool silu, bool row_grid) {
  int64_t i, f, t, b;
  if (row_grid) {
    f = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (f >= F) return;
    const int row = static_cast<int>(blockIdx.y), s32 = static_cast<int>(S);  // S ≤ rows here
    b = row / s32, t = row % s32, i = static_cast<int64_t>(row) * F + f;
  } else {
    i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (i >= B * S * F) return;
    f = i % F, t = (i / F) % S, b = i / (S * F);
  }
  float acc = bias != nullptr ? bias[f] : 0.0f;
  for (int64_t j = 0; j < KS; ++j) {
    const int64_t r = t - KS + 1 + j;  // ≥ −(KS − 1)
    const float xr = r >= 0 ? x[(b * S + r) * x_stride + f] : state[(b * KS + KS + r) * F + f];
    acc += w[f * KS + j] * xr;
  }
  y[i] = silu ? acc * sigmoid(acc) : acc;
}

// The same for a kernel of 4 taps (the xLSTM blocks' conv), 4 adjacent features and kConvRun
// consecutive steps per thread: the window slides in registers, so each input row is read about
// once instead of 4 times, with 16-byte loads and stores (F, x_stride multiples of 4, 16-byte
// aligned x, w, y, state). Each output's sum is the one above, term by term.
constexpr int kConvRun = 16;
__global__ void causal_conv4_run_kernel(const float* x, int64_t x_stride, int64_t S, int64_t F,
                                        const float* w, const float* bias, const float* state,
                                        float* y, bool silu) {
  constexpr int KS = 4;
  const int64_t f = 4 * (blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x);
  if (f >= F) return;
  const int64_t b = blockIdx.z, t0 = blockIdx.y * static_cast<int64_t>(kConvRun);
  float4 wt[KS];  // wt[j]: tap j of features f..f+3
  load_taps4(w, f, wt);
  const float4 b4 = bias != nullptr ? make_float4(bias[f], bias[f + 1], bias[f + 2], bias[f + 3])
                                    : make_float4(0, 0, 0, 0);
  auto input = [&](int64_t r) {  // r ≥ −(KS − 1): before the call, from the window
    return r >= 0 ? load4(x + (b * S + r) * x_stride + f)
                  : load4(state + (b * KS + KS + r) * F + f);
  };
  float4 win[KS];  // win[j]: input row t − KS + 1 + j
#pragma unroll
  for (int j = 0; j < KS - 1; ++j) win[j + 1] = input(t0 - KS + 1 + j);
  const int64_t t_end = min(t0 + kConvRun, S);
  for (int64_t t = t0; t < t_end; ++t) {
#pragma unroll
    for (int j = 0; j < KS - 1; ++j) win[j] = win[j + 1];
    win[KS - 1] = input(t);
    store4(y + (b * S + t) * F + f, conv4(b4, wt, win, silu));
  }
}

// Decode (a few steps per call): one thread per (b, f) walks the steps with the window in
// registers and writes the new window back: one launch instead of two.
__global__ void causal_conv_steps_kernel(const float* x, int64_t x_stride, int64_t B, int64_t S,
                                         int64_t F, const float* w, const float* bias, int64_t KS,
                                         float* state, float* y, bool silu) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= B * F) return;
  const int64_t b = i / F, f = i % F;
  float* st = state + b * KS * F + f;  // window entry j at st[j·F], newest last
  float win[16];
  for (int64_t j = 0; j < KS; ++j) win[j] = st[j * F];
  const float bf = bias != nullptr ? bias[f] : 0.0f;
  for (int64_t t = 0; t < S; ++t) {
    for (int64_t j = 0; j + 1 < KS; ++j) win[j] = win[j + 1];
    win[KS - 1] = x[(b * S + t) * x_stride + f];
    float acc = bf;
    for (int64_t j = 0; j < KS; ++j) acc += w[f * KS + j] * win[j];
    y[(b * S + t) * F + f] = silu ? acc * sigmoid(acc) : acc;
  }
  for (int64_t j = 0; j < KS; ++j) st[j * F] = win[j];
}

// The new window: the last KS inputs of [window, x], after every output has read the old one.
__global__ void conv_window_kernel(const float* x, int64_t x_stride, int64_t B, int64_t S,
                                   int64_t F, int64_t KS, float* state) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= B * F) return;
  const int64_t b = i / F, f = i % F;
  float* st = state + b * KS * F + f;
  float win[16];
  for (int64_t j = 0; j < KS; ++j) {
    const int64_t r = S - KS + j;  // relative to this call's first input
    win[j] = r >= 0 ? x[(b * S + r) * x_stride + f] : st[(KS + r) * F];
  }
  for (int64_t j = 0; j < KS; ++j) st[j * F] = win[j];
}

__device__ float activate(float x, Activation a) {
  switch (a) {
    case Activation::Gelu:
      return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    case Activation::Relu:
      return fmaxf(x, 0.0f);
    case Activation::ReluSquared:
      return fmaxf(x, 0.0f) * fmaxf(x, 0.0f);
    case Activation::Sigmoid:
      return sigmoid(x);
    case Activation::Swish:
      return x * sigmoid(x);
    case Activation::Selu:
      return 1.0507009873554805f * (x > 0 ? x : 1.6732632423543772f * expm1f(x));
  }
  return x;
}

template <typename T>
__global__ void gated_activation_kernel(const float* gu, int64_t T_, int64_t F, Activation a,
                                        T* out) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= T_ * F) return;
  const int64_t t = i / F, j = i % F;
  store(out + i, activate(gu[t * 2 * F + j], a) * gu[t * 2 * F + F + j]);
}

__global__ void add_kernel(float* dst, const float* src, int64_t n) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i < n) dst[i] += src[i];
}

// q, k (from the convolved c) and v (from x_m): three block-diagonal projections with blocks of
// bs, one output per thread. qkv gets them as they are (the gates read those); qk_scaled gets
// q · scale and k / scale, the cell's operands.
__global__ void mlstm_v1_qkv_kernel(MlstmV1Qkv a, float scale) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  const int64_t I = a.I, bs = a.bs;
  if (i >= a.T * 3 * I) return;
  const int64_t t = i / (3 * I), col = i % (3 * I), which = col / I, j = col % I;
  const float* W = which == 0 ? a.q_w : which == 1 ? a.k_w : a.v_w;
  const float* bias = which == 0 ? a.q_b : which == 1 ? a.k_b : a.v_b;
  const float* src = which == 2 ? a.xm + t * a.xm_stride : a.c + t * I;
  const float* xr = src + (j / bs) * bs;
  const float* wr = W + j * bs;
  float acc = bias != nullptr ? bias[j] : 0.0f;
  for (int64_t e = 0; e < bs; ++e) acc += xr[e] * wr[e];
  a.qkv[t * 3 * I + col] = acc;
  if (which < 2) a.qk_scaled[t * 2 * I + col] = which == 0 ? acc * scale : acc / scale;
}

// The same, 4 adjacent outputs per thread and the row from the grid (I % 4 == 0, 16-byte
// aligned rows, T ≤ 65,535): 32-bit column math instead of 64-bit divisions per output, 16-byte
// stores. Each output's sum is the one above, term by term.
__global__ void mlstm_v1_qkv4_kernel(MlstmV1Qkv a, float scale) {
  const int I = static_cast<int>(a.I), bs = static_cast<int>(a.bs);
  const int col = 4 * static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (col >= 3 * I) return;
  const int64_t t = blockIdx.y;
  const int which = col / I, j = col % I;
  const float* W = which == 0 ? a.q_w : which == 1 ? a.k_w : a.v_w;
  const float* bias = which == 0 ? a.q_b : which == 1 ? a.k_b : a.v_b;
  const float* src = which == 2 ? a.xm + t * a.xm_stride : a.c + t * I;
  float out[4];
#pragma unroll
  for (int u = 0; u < 4; ++u) {
    const int jj = j + u;
    const float* xr = src + (jj / bs) * bs;
    const float* wr = W + static_cast<int64_t>(jj) * bs;
    float acc = bias != nullptr ? bias[jj] : 0.0f;
    if (bs % 4 == 0) {  // 16-byte loads of the block's inputs and the weight row
      for (int e = 0; e < bs; e += 4) {
        const float4 xv = load4(xr + e), wv = load4(wr + e);
        acc += xv.x * wv.x;
        acc += xv.y * wv.y;
        acc += xv.z * wv.z;
        acc += xv.w * wv.w;
      }
    } else {
      for (int e = 0; e < bs; ++e) acc += xr[e] * wr[e];
    }
    out[u] = acc;
  }
  store4(a.qkv + t * 3 * I + col, make_float4(out[0], out[1], out[2], out[3]));
  if (which == 0) {
    store4(a.qk_scaled + t * 2 * I + col,
           make_float4(out[0] * scale, out[1] * scale, out[2] * scale, out[3] * scale));
  } else if (which == 1) {
    store4(a.qk_scaled + t * 2 * I + col,
           make_float4(out[0] / scale, out[1] / scale, out[2] / scale, out[3] / scale));
  }
}

// Decode's conv and q, k, v in one launch (4 taps, blocks of 4): a thread owns one block of 4
// features of one sequence, walks the few steps with the window in registers, writes c =
// SiLU(conv(x_m)) (the skip reads it), then that block's q, k (from c) and v (from x_m). Each
// value is the one causal_conv_steps_kernel and mlstm_v1_qkv4_kernel compute, term by term.
__global__ void mlstm_v1_conv_qkv_steps_kernel(MlstmV1Qkv a, float* c_out, int64_t B, int64_t S,
                                               const float* cw, const float* cb, float* state,
                                               float scale) {
  constexpr int KS = 4;
  const int64_t I = a.I, i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= B * (I / 4)) return;
  const int64_t b = i / (I / 4), f = 4 * (i % (I / 4));
  float4 wt[KS];  // tap j of features f..f+3
  load_taps4(cw, f, wt);
  const float4 b4 =
      cb != nullptr ? make_float4(cb[f], cb[f + 1], cb[f + 2], cb[f + 3]) : make_float4(0, 0, 0, 0);
  float* st = state + b * KS * I + f;  // window entry j at st[j·I], newest last
  float4 win[KS];
#pragma unroll
  for (int j = 0; j < KS; ++j) win[j] = load4(st + j * I);
  for (int64_t t = 0; t < S; ++t) {
    const int64_t row = b * S + t;
#pragma unroll
    for (int j = 0; j + 1 < KS; ++j) win[j] = win[j + 1];
    win[KS - 1] = load4(a.xm + row * a.xm_stride + f);
    const float4 c = conv4(b4, wt, win, true);
    store4(c_out + row * I + f, c);
    const float4 q = block_proj4(a.q_w, a.q_b, f, c), k = block_proj4(a.k_w, a.k_b, f, c);
    const float4 v = block_proj4(a.v_w, a.v_b, f, win[KS - 1]);
    float* qkv = a.qkv + row * 3 * I + f;
    store4(qkv, q);
    store4(qkv + I, k);
    store4(qkv + 2 * I, v);
    float* qk = a.qk_scaled + row * 2 * I + f;
    store4(qk, make_float4(q.x * scale, q.y * scale, q.z * scale, q.w * scale));
    store4(qk + I, make_float4(k.x / scale, k.y / scale, k.z / scale, k.w / scale));
  }
#pragma unroll
  for (int j = 0; j < KS; ++j) store4(st + j * I, win[j]);
}

// out[t, o] = b[o] + W[o, :] · x[t, :] for the few rows of a decode step, K split over
// gridDim.y blocks (a long K over a handful of blocks left the GPU idle): each block writes its
// slice's partial sum, and the last of (t, o) to finish adds them in slice order
// (deterministic), then resets the counter for the next launch.
__global__ void __launch_bounds__(kThreads)
    small_linear_kernel(const float* x, int64_t K, const float* W, const float* b, int64_t N,
                        int64_t slice, float* partials, unsigned* counters, float* out) {
  allow_dependent_launch();  // the mLSTM step after it may start loading its state
  const int64_t to = blockIdx.x, t = to / N, o = to % N, splits = gridDim.y;
  const int64_t k_begin = blockIdx.y * slice, k_end = min(K, k_begin + slice);
  const float* xr = x + t * K;
  const float* wr = W + o * K;
  float acc = 0.0f;
  int64_t k0 = k_begin;
  if (K % 4 == 0 && slice % 4 == 0 && reinterpret_cast<uintptr_t>(xr) % 16 == 0 &&
      reinterpret_cast<uintptr_t>(wr) % 16 == 0) {
    for (int64_t k = k_begin + 4 * threadIdx.x; k < k_end; k += 4 * blockDim.x) {
      const float4 xv = *reinterpret_cast<const float4*>(xr + k);
      const float4 wv = *reinterpret_cast<const float4*>(wr + k);
      acc += xv.x * wv.x + xv.y * wv.y + xv.z * wv.z + xv.w * wv.w;
    }
    k0 = k_end;
  }
  for (int64_t k = k0 + threadIdx.x; k < k_end; k += blockDim.x) acc += xr[k] * wr[k];
  acc = block_sum(acc);
  __shared__ bool last;
  if (threadIdx.x == 0) {
    partials[to * splits + blockIdx.y] = acc;
    __threadfence();  // the partial is visible device-wide before the count says so
    last = atomicAdd(counters + to, 1u) == splits - 1;
  }
  __syncthreads();
  if (!last || threadIdx.x != 0) return;
  __threadfence();
  float sum = b != nullptr ? b[o] : 0.0f;
  for (int64_t z = 0; z < splits; ++z) sum += __ldcg(partials + to * splits + z);  // not via L1
  out[t * N + o] = sum;
  counters[to] = 0;
}

// slstm_step_inputs: block (t, slice) computes row t's LayerNorm statistics exactly as
// group_layer_norm_kernel does (same block size, same per-thread sums), then the conv of its
// slice's features (a thread per feature) as causal_conv_steps_kernel does.
__global__ void slstm_step_inputs_kernel(const float* x, int64_t E, const float* w, float eps,
                                         const float* cw, const float* cb, int64_t KS, float* state,
                                         bf16* u_out, bf16* c_out) {
  const int64_t t = blockIdx.x;
  const float* xr = x + t * E;
  float v[kNormPerThread];
  const RowStats st = row_stats(xr, E, eps, v);
  const int64_t f = blockIdx.y * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (f >= E) return;
  const float u = (xr[f] - st.mean) * st.r * w[f];
  float* ws = state + t * KS * E + f;  // window entry j at ws[j·E], newest last
  float win[16];
  for (int64_t j = 0; j < KS; ++j) win[j] = ws[j * E];
  for (int64_t j = 0; j + 1 < KS; ++j) win[j] = win[j + 1];
  win[KS - 1] = u;
  float acc = cb != nullptr ? cb[f] : 0.0f;
  for (int64_t j = 0; j < KS; ++j) acc += cw[f * KS + j] * win[j];
  for (int64_t j = 0; j < KS; ++j) ws[j * E] = win[j];
  store(u_out + t * E + f, u);
  store(c_out + t * E + f, acc * sigmoid(acc));
}

// A warp per output row (p, h, o) of the headwise pair, every row of x at once: each lane sums
// 8 products per 16-byte load of W, then the warp's lanes are added.
constexpr int kHeadwiseWarps = 8;
__global__ void __launch_bounds__(kHeadwiseWarps * 32)
    headwise_pair_kernel(const bf16* x, int T, int64_t NH, int64_t DH, const bf16* W, float* y) {
  const int64_t E = NH * DH, row = blockIdx.x * static_cast<int64_t>(kHeadwiseWarps) +
                                   threadIdx.x / 32;  // p·E + h·DH + o
  if (row >= 2 * E) return;
  const int lane = threadIdx.x % 32;
  const int64_t h = row % E / DH;
  const auto* w8 = reinterpret_cast<const uint4*>(W + row * DH);
  float acc[kHeadwiseMaxRows] = {};
  for (int64_t i = lane; i < DH / 8; i += 32) {
    const uint4 wv = w8[i];
    const auto* wp = reinterpret_cast<const __nv_bfloat162*>(&wv);
#pragma unroll
    for (int t = 0; t < kHeadwiseMaxRows; ++t) {
      if (t >= T) break;
      const uint4 xv = reinterpret_cast<const uint4*>(x + t * E + h * DH)[i];
      const auto* xp = reinterpret_cast<const __nv_bfloat162*>(&xv);
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const float2 a = __bfloat1622float2(wp[j]), b = __bfloat1622float2(xp[j]);
        acc[t] = fmaf(a.x, b.x, acc[t]);
        acc[t] = fmaf(a.y, b.y, acc[t]);
      }
    }
  }
#pragma unroll
  for (int t = 0; t < kHeadwiseMaxRows; ++t) {
    if (t >= T) break;
    const float sum = warp_sum(acc[t]);
    if (lane == 0) y[t * 2 * E + row] = sum;
  }
}

// Slices of ~4 floats per thread (one 16-byte load each), a multiple of 4.
int64_t small_linear_slice(int64_t K) {
  const int64_t splits = std::clamp<int64_t>((K + 4 * kThreads - 1) / (4 * kThreads), 1, 64);
  return std::max<int64_t>(((K + splits - 1) / splits + 3) / 4 * 4, 4);
}

// Slices of K (at least one, as launched).
int64_t small_linear_splits(int64_t K) {
  const int64_t slice = small_linear_slice(K);
  return std::max<int64_t>((K + slice - 1) / slice, 1);
}

void launch_group_layer_norm(const float* x, int64_t T, int64_t G, int64_t D, int64_t x_stride,
                             const float* w, float eps, void* y, WeightType y_type, bool accumulate,
                             const V1Gate& gate, Stream s) {
  if (T == 0) return;
  const dim3 grid(static_cast<unsigned>(T), static_cast<unsigned>(G));
  const unsigned threads = threads_for_row(D, 4);  // a whole number of warps, ≤ 1024
  auto run = [&](auto gated) {
    constexpr bool kGate = decltype(gated)::value;
    if (y_type == WeightType::BF16) {
      group_layer_norm_kernel<bf16, kGate>
          <<<grid, threads, 0, s>>>(x, G, D, x_stride, w, eps, static_cast<bf16*>(y), false, gate);
    } else {
      group_layer_norm_kernel<float, kGate><<<grid, threads, 0, s>>>(
          x, G, D, x_stride, w, eps, static_cast<float*>(y), accumulate, gate);
    }
  };
  if (gate.c != nullptr) {
    run(std::true_type{});
  } else {
    run(std::false_type{});
  }
  XLSTM_CUDA_CHECK_LAUNCH();
}

}  // namespace

void group_layer_norm(const float* x, int64_t T, int64_t G, int64_t D, int64_t x_stride,
                      const float* w, float eps, void* y, WeightType y_type, bool accumulate,
                      Stream s) {
  launch_group_layer_norm(x, T, G, D, x_stride, w, eps, y, y_type, accumulate, V1Gate{}, s);
}

void mlstm_v1_norm_output(const float* h, int64_t T, int64_t NH, int64_t DH, const float* w,
                          float eps, const float* c, const float* skip, const float* z,
                          int64_t z_stride, void* out, WeightType out_type, Stream s) {
  launch_group_layer_norm(h, T, NH, DH, NH * DH, w, eps, out, out_type, false,
                          V1Gate{c, skip, z, z_stride}, s);
}

void causal_conv1d(const float* x, int64_t x_stride, int64_t B, int64_t S, int64_t F,
                   const float* w, const float* bias, int64_t KS, float* state, float* y, bool silu,
                   Stream s) {
  if (KS < 1 || KS > 16) throw Error(tagged("cuda", "causal conv: kernel size must be in [1, 16]"));
  if (S <= kConvStepsMax) {
    causal_conv_steps_kernel<<<blocks_for(B * F, kThreads), kThreads, 0, s>>>(
        x, x_stride, B, S, F, w, bias, KS, state, y, silu);
    XLSTM_CUDA_CHECK_LAUNCH();
    return;
  }
  if (KS == 4 && F % 4 == 0 && x_stride % 4 == 0 && aligned16(x) && aligned16(w) && aligned16(y) &&
      aligned16(state) && B <= 65535 && (S + kConvRun - 1) / kConvRun <= 65535) {
    const dim3 grid(blocks_for(F / 4, kThreads),
                    static_cast<unsigned>((S + kConvRun - 1) / kConvRun), static_cast<unsigned>(B));
    causal_conv4_run_kernel<<<grid, kThreads, 0, s>>>(x, x_stride, S, F, w, bias, state, y, silu);
  } else if (B * S <= 65535) {  // 64-bit divisions per output are most of the index work
    const dim3 grid(blocks_for(F, kThreads), static_cast<unsigned>(B * S));
    causal_conv_kernel<<<grid, kThreads, 0, s>>>(x, x_stride, B, S, F, w, bias, KS, state, y, silu,
                                                 true);
  } else {
    causal_conv_kernel<<<blocks_for(B * S * F, kThreads), kThreads, 0, s>>>(
        x, x_stride, B, S, F, w, bias, KS, state, y, silu, false);
  }
  XLSTM_CUDA_CHECK_LAUNCH();
  conv_window_kernel<<<blocks_for(B * F, kThreads), kThreads, 0, s>>>(x, x_stride, B, S, F, KS,
                                                                      state);
  XLSTM_CUDA_CHECK_LAUNCH();
}

void mlstm_v1_qkv(const MlstmV1Qkv& a, float scale, Stream s) {
  const bool inputs16 = aligned16(a.c) && aligned16(a.xm) && a.xm_stride % 4 == 0 &&
                        aligned16(a.q_w) && aligned16(a.k_w) && aligned16(a.v_w);
  if (a.I % 4 == 0 && a.T <= 65535 && 3 * a.I < (int64_t{1} << 30) && aligned16(a.qkv) &&
      aligned16(a.qk_scaled) && (a.bs % 4 != 0 || inputs16)) {
    const dim3 grid(blocks_for(3 * a.I / 4, kThreads), static_cast<unsigned>(a.T));
    if (a.T > 0) mlstm_v1_qkv4_kernel<<<grid, kThreads, 0, s>>>(a, scale);
  } else {
    mlstm_v1_qkv_kernel<<<blocks_for(a.T * 3 * a.I, kThreads), kThreads, 0, s>>>(a, scale);
  }
  XLSTM_CUDA_CHECK_LAUNCH();
}

bool mlstm_v1_conv_qkv_steps(const MlstmV1Qkv& a, float* c_out, int64_t B, int64_t S,
                             const float* conv_w, const float* conv_b, int64_t KS,
                             float* conv_state, float scale, Stream s) {
  if (S > kConvStepsMax || KS != 4 || a.bs != 4 || a.I % 4 != 0 || a.xm_stride % 4 != 0 ||
      !aligned16(c_out) || !aligned16(a.xm) || !aligned16(a.q_w) || !aligned16(a.k_w) ||
      !aligned16(a.v_w) || !aligned16(a.qkv) || !aligned16(a.qk_scaled) || !aligned16(conv_w) ||
      !aligned16(conv_state))
    return false;
  if (B * S == 0) return true;
  mlstm_v1_conv_qkv_steps_kernel<<<blocks_for(B * (a.I / 4), kThreads), kThreads, 0, s>>>(
      a, c_out, B, S, conv_w, conv_b, conv_state, scale);
  XLSTM_CUDA_CHECK_LAUNCH();
  return true;
}

int64_t small_linear_partial_floats(int64_t T, int64_t K, int64_t N) {
  return T * N * small_linear_splits(K);
}

void small_linear(const float* x, int64_t T, int64_t K, const float* W, const float* b, int64_t N,
                  float* out, unsigned* counters, float* partials, Stream s) {
  if (T == 0 || N == 0) return;
  const int64_t slice = small_linear_slice(K), splits = small_linear_splits(K);
  small_linear_kernel<<<dim3(static_cast<unsigned>(T * N), static_cast<unsigned>(splits)), kThreads,
                        0, s>>>(x, K, W, b, N, slice, partials, counters, out);
  XLSTM_CUDA_CHECK_LAUNCH();
}

bool slstm_step_inputs(const float* x, int64_t T, int64_t E, const float* w, float eps,
                       const float* conv_w, const float* conv_b, int64_t KS, float* state,
                       void* u_out, void* c_out, Stream s) {
  const unsigned threads = threads_for_row(E, 4);  // as launch_group_layer_norm
  if (E > kNormPerThread * static_cast<int64_t>(threads) || KS < 1 || KS > 16 || T > 65535)
    return false;
  if (T == 0) return true;
  const dim3 grid(static_cast<unsigned>(T), blocks_for(E, static_cast<int>(threads)));
  slstm_step_inputs_kernel<<<grid, threads, 0, s>>>(x, E, w, eps, conv_w, conv_b, KS, state,
                                                    static_cast<bf16*>(u_out),
                                                    static_cast<bf16*>(c_out));
  XLSTM_CUDA_CHECK_LAUNCH();
  return true;
}

bool headwise_pair_gemv(const void* x, int64_t T, int64_t NH, int64_t DH, const void* W, float* y,
                        Stream s) {
  if (T < 1 || T > kHeadwiseMaxRows || DH % 8 != 0 || x == nullptr || W == nullptr ||
      !aligned16(x) || !aligned16(W))
    return false;
  const int64_t rows = 2 * NH * DH;
  headwise_pair_kernel<<<blocks_for(rows, kHeadwiseWarps), kHeadwiseWarps * 32, 0, s>>>(
      static_cast<const bf16*>(x), static_cast<int>(T), NH, DH, static_cast<const bf16*>(W), y);
  XLSTM_CUDA_CHECK_LAUNCH();
  return true;
}

void gated_activation(const float* gate_up, int64_t T, int64_t F, Activation a, void* out,
                      WeightType out_type, Stream s) {
  if (out_type == WeightType::BF16) {
    gated_activation_kernel<<<blocks_for(T * F, kThreads), kThreads, 0, s>>>(
        gate_up, T, F, a, static_cast<bf16*>(out));
  } else {
    gated_activation_kernel<<<blocks_for(T * F, kThreads), kThreads, 0, s>>>(
        gate_up, T, F, a, static_cast<float*>(out));
  }
  XLSTM_CUDA_CHECK_LAUNCH();
}

void add_inplace(float* dst, const float* src, int64_t n, Stream s) {
  add_kernel<<<blocks_for(n, kThreads), kThreads, 0, s>>>(dst, src, n);
  XLSTM_CUDA_CHECK_LAUNCH();
}

}  // namespace xlstm::cuda
