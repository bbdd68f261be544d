// The mLSTM recurrent step (spec §1.5, §2.1) for a batch, one launch per token. A block owns
// (b, head, a tile of C's columns):
//   1. gates, stabilizer m and q̂·n for the denominator — every block of the head computes the same
//      few values from the old m and n (cheap; no launch, no grid-wide wait);
//   2. C = f'·C + i'·k vᵀ in place for its columns and h = (q̂ᵀC) / denominator;
//   3. the head's last block to finish (a counter per (b, head)) writes the new n and m, which no
//      block reads any more, and, when asked, the per-head LayerNorm + output gate of h (decode's
//      multihead_norm_gate, fused), then resets the counter.
// Small grids (few heads, one sequence) with 16-byte rows also split C's rows over gridDim.z
// blocks so that enough loads are in flight: each writes its rows' partial q̂ᵀC, and the head's
// last block sums them in a fixed order (deterministic).
// Float32 throughout, the CPU's mlstm_step_sequence operation by operation (sums may associate
// differently).
#include "backend/cuda/common.cuh"
#include "backend/cuda/head_norm.cuh"
#include "backend/cuda/ops.h"
#include "backend/cuda/pdl_launch.cuh"

namespace xlstm::cuda {

namespace {

struct Gates {
  float f_act, i_act, m_new, denom;
};

__device__ int64_t block_tid() {
  return threadIdx.x + threadIdx.y * blockDim.x;
}

// Step 1: the same in every block of (b, head); reads the old n and m only.
__device__ Gates head_gates(const CellBatch& x, int64_t row, int64_t h, const float* n,
                            float m_prev, float eps) {
  float i_pre = x.igate.p[row * x.igate.stride + h];
  float f_pre = x.fgate.p[row * x.fgate.stride + h];
  if (x.gate_cap > 0.0f) {
    i_pre = x.gate_cap * tanhf(i_pre / x.gate_cap);
    f_pre = x.gate_cap * tanhf(f_pre / x.gate_cap);
  }
  const float lf = log_sigmoid(f_pre);
  const float m_new = fmaxf(lf + m_prev, i_pre);
  const float f_act = expf(lf + m_prev - m_new);
  const float i_act = expf(i_pre - m_new);
  const float scale = 1.0f / sqrtf(static_cast<float>(x.DHQK));
  const float* q = x.q.p + row * x.q.stride + h * x.DHQK;
  const float* k = x.k.p + row * x.k.stride + h * x.DHQK;
  const int64_t nt = blockDim.x * blockDim.y;
  float qn = 0.0f;
#pragma unroll 4
  for (int64_t a = block_tid(); a < x.DHQK; a += nt)  // unrolled: the loads in flight together
    qn += (q[a] * scale) * (f_act * n[a] + i_act * k[a]);
  qn = block_sum(qn);
  return {f_act, i_act, m_new, fmaxf(fabsf(qn), expf(-m_new)) + eps};
}

// Step 3, after this block's h stores: true in the last block of (b, head) to get here.
__device__ bool last_of_head(unsigned* counter) {
  __shared__ bool last;
  __threadfence();  // this thread's h is visible device-wide before the count says so
  __syncthreads();
  if (block_tid() == 0) last = atomicAdd(counter, 1u) == gridDim.y * gridDim.z - 1;
  __syncthreads();
  return last;
}

template <typename Y>
__device__ void finish_head(const CellBatch& x, int64_t row, int64_t h, int64_t bh, const Gates& g,
                            float* n, float* m, unsigned* counter, const HeadNormGate& norm) {
  __threadfence();
  const float* k = x.k.p + row * x.k.stride + h * x.DHQK;
  const int64_t tid = block_tid(), nt = blockDim.x * blockDim.y;
  // n's first kN·nt entries load now and are written after the norm (both round trips overlap).
  constexpr int kN = 2;
  float nv[kN], kv[kN];
#pragma unroll
  for (int i = 0; i < kN; ++i) {
    const int64_t a = tid + i * nt;
    nv[i] = a < x.DHQK ? n[a] : 0.0f;
    kv[i] = a < x.DHQK ? k[a] : 0.0f;
  }
  for (int64_t a = tid + kN * nt; a < x.DHQK; a += nt) n[a] = g.f_act * n[a] + g.i_act * k[a];
  if (norm.y != nullptr) {
    const int64_t off = h * x.DHV;
    V1Skip v1;
    if (norm.skip != nullptr) v1 = {norm.skip + off, norm.c + row * x.NH * x.DHV + off};
    head_norm_gate(x.h + row * x.h_stride + off, x.DHV, norm.w + off,
                   norm.b != nullptr ? norm.b + off : nullptr, norm.eps,
                   norm.o + row * norm.o_stride + off,
                   static_cast<Y*>(norm.y) + row * x.NH * x.DHV + off, v1);
  }
#pragma unroll
  for (int i = 0; i < kN; ++i) {
    const int64_t a = tid + i * nt;
    if (a < x.DHQK) n[a] = g.f_act * nv[i] + g.i_act * kv[i];
  }
  if (tid == 0) {
    m[bh] = g.m_new;
    *counter = 0;  // ready for the next launch
  }
}

constexpr int kCols = 32, kRowGroups = 8, kBatchRows = 16;

// In the head's last block of a row-split launch: h = (Σ_z partials[z]) / denominator, the splits
// added in order (deterministic); partials [splits, DHV] of this (b, head).
// The loads of kAhead splits are issued before their sums (the last block's serial tail).
__device__ void sum_row_partials(const CellBatch& x, const float* partials, int64_t splits,
                                 float denom, float* h_row) {
  constexpr int kAhead = 8;
  __threadfence();
  for (int64_t j = block_tid(); j < x.DHV; j += blockDim.x * blockDim.y) {
    float sum = 0.0f;
    for (int64_t z0 = 0; z0 < splits; z0 += kAhead) {
      float p[kAhead];
#pragma unroll
      for (int i = 0; i < kAhead; ++i)  // not via L1: other blocks wrote them
        p[i] = z0 + i < splits ? __ldcg(partials + (z0 + i) * x.DHV + j) : 0.0f;
#pragma unroll
      for (int i = 0; i < kAhead; ++i) sum += p[i];  // in split order (+0 past the end)
    }
    h_row[j] = sum / denom;
  }
  __syncthreads();  // the fused norm reads every column of h
}

// Each thread walks its column's rows kBatchRows at a time, issuing every load of a batch (C, k,
// q) before the first store: the state's read-modify-write then streams at memory speed.
template <typename Y>
__global__ void step_kernel(CellBatch x, int64_t t, CellStateDev st, float eps, unsigned* sync,
                            HeadNormGate norm) {
  allow_dependent_launch();  // the next GEMV may start streaming its weights
  __shared__ float partial[kRowGroups][kCols + 1];
  const int64_t bh = blockIdx.x, b = bh / x.NH, h = bh % x.NH, row = b * x.S + t;
  float* n = st.n + bh * x.DHQK;
  const int64_t d = blockIdx.y * kCols + threadIdx.x;
  const float* q = x.q.p + row * x.q.stride + h * x.DHQK;
  const float* k = x.k.p + row * x.k.stride + h * x.DHQK;
  const float scale = 1.0f / sqrtf(static_cast<float>(x.DHQK));
  const bool col = d < x.DHV;
  float* Cb = st.C + bh * x.DHQK * x.DHV + (col ? d : 0);
  float cv[kBatchRows], kv[kBatchRows], qv[kBatchRows];
  auto load_batch = [&](int64_t a0) {
#pragma unroll
    for (int i = 0; i < kBatchRows; ++i) {
      const int64_t a = a0 + i * kRowGroups;
      const bool in = col && a < x.DHQK;
      cv[i] = in ? Cb[a * x.DHV] : 0.0f;
      kv[i] = in ? k[a] : 0.0f;
      qv[i] = in ? q[a] : 0.0f;
    }
  };
  load_batch(threadIdx.y);      // the first batch of C is in flight while the gates are worked out
  wait_for_preceding_kernel();  // a no-op here (ordinary launches); see the split kernel
  const Gates g = head_gates(x, row, h, n, st.m[bh], eps);
  float acc = 0.0f;
  if (col) {
    const float vd = x.v.p[row * x.v.stride + h * x.DHV + d];
    for (int64_t a0 = threadIdx.y; a0 < x.DHQK; a0 += kRowGroups * kBatchRows) {
      if (a0 != threadIdx.y) load_batch(a0);
#pragma unroll
      for (int i = 0; i < kBatchRows; ++i) {
        const int64_t a = a0 + i * kRowGroups;
        if (a >= x.DHQK) break;
        const float c = g.f_act * cv[i] + (g.i_act * kv[i]) * vd;
        Cb[a * x.DHV] = c;
        acc += (qv[i] * scale) * c;
      }
    }
  }
  partial[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && d < x.DHV) {
    float sum = 0.0f;
    for (int r = 0; r < kRowGroups; ++r) sum += partial[r][threadIdx.x];
    x.h[row * x.h_stride + h * x.DHV + d] = sum / g.denom;
  }
  if (last_of_head(sync + bh)) finish_head<Y>(x, row, h, bh, g, n, st.m, sync + bh, norm);
}

// This thread's 4 columns summed over the block's row groups, in order.
__device__ __forceinline__ float4 sum_row_groups(const float4 (&partial)[kRowGroups][kCols]) {
  float4 sum = make_float4(0, 0, 0, 0);
  for (int r = 0; r < kRowGroups; ++r) {
    const float4 p = partial[r][threadIdx.x];
    sum.x += p.x, sum.y += p.y, sum.z += p.z, sum.w += p.w;
  }
  return sum;
}

// The same with 16-byte accesses: a thread owns 4 adjacent columns (a block 128), for DHV % 4 == 0
// and aligned rows; fewer, wider memory instructions for the batch decode's state traffic.
template <typename Y>
__global__ void step_vec4_kernel(CellBatch x, int64_t t, CellStateDev st, float eps, unsigned* sync,
                                 HeadNormGate norm) {
  allow_dependent_launch();
  __shared__ float4 partial[kRowGroups][kCols];
  const int64_t bh = blockIdx.x, b = bh / x.NH, h = bh % x.NH, row = b * x.S + t;
  float* n = st.n + bh * x.DHQK;
  const int64_t d = (blockIdx.y * kCols + threadIdx.x) * 4;
  const float* q = x.q.p + row * x.q.stride + h * x.DHQK;
  const float* k = x.k.p + row * x.k.stride + h * x.DHQK;
  const float scale = 1.0f / sqrtf(static_cast<float>(x.DHQK));
  constexpr int kVecRows = 4;
  const bool col = d < x.DHV;
  float* Cb = st.C + bh * x.DHQK * x.DHV + (col ? d : 0);
  float4 cv[kVecRows];
  float kv[kVecRows], qv[kVecRows];
  auto load_batch = [&](int64_t a0) {
#pragma unroll
    for (int i = 0; i < kVecRows; ++i) {
      const int64_t a = a0 + i * kRowGroups;
      const bool in = col && a < x.DHQK;
      cv[i] = in ? load4(Cb + a * x.DHV) : make_float4(0, 0, 0, 0);
      kv[i] = in ? k[a] : 0.0f;
      qv[i] = in ? q[a] : 0.0f;
    }
  };
  load_batch(threadIdx.y);      // the first batch of C is in flight while the gates are worked out
  wait_for_preceding_kernel();  // a no-op here (ordinary launches); see the split kernel
  const Gates g = head_gates(x, row, h, n, st.m[bh], eps);
  float4 acc = make_float4(0, 0, 0, 0);
  if (col) {
    const float4 vd = load4(x.v.p + row * x.v.stride + h * x.DHV + d);
    for (int64_t a0 = threadIdx.y; a0 < x.DHQK; a0 += kRowGroups * kVecRows) {
      if (a0 != threadIdx.y) load_batch(a0);
#pragma unroll
      for (int i = 0; i < kVecRows; ++i) {
        const int64_t a = a0 + i * kRowGroups;
        if (a >= x.DHQK) break;
        store4(Cb + a * x.DHV, update4(cv[i], g.f_act, g.i_act * kv[i], vd, qv[i] * scale, acc));
      }
    }
  }
  partial[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && d < x.DHV) {
    const float4 sum = sum_row_groups(partial);
    const float den = g.denom;
    store4(x.h + row * x.h_stride + h * x.DHV + d,
           make_float4(sum.x / den, sum.y / den, sum.z / den, sum.w / den));
  }
  if (last_of_head(sync + bh)) finish_head<Y>(x, row, h, bh, g, n, st.m, sync + bh, norm);
}

// Small grids with 16-byte rows (a decode of one sequence with few, wide heads): a thread owns 4
// adjacent columns, the block 128 columns and P = DHQK / gridDim.z rows of C (gridDim.z ≥ 2). i·k
// and q̂ of those rows are staged in shared memory once (not loaded per column), and each thread
// keeps kSplitBatch rows of C in flight; block z writes its columns' partial sums to row_partials
// [B·NH, gridDim.z, DHV], and the head's last block adds them up into h.
constexpr int kSplitBatch = 8, kMaxSplitRows = 1024;

template <typename Y>
__global__ void __launch_bounds__(kCols* kRowGroups, 4)  // all of a 512-block grid resident
    step_split_vec4_kernel(CellBatch x, int64_t t, CellStateDev st, float eps, unsigned* sync,
                           HeadNormGate norm, float* row_partials) {
  allow_dependent_launch();
  __shared__ float ik_s[kMaxSplitRows], qs_s[kMaxSplitRows];
  __shared__ float4 partial[kRowGroups][kCols];
  const int64_t bh = blockIdx.x, b = bh / x.NH, h = bh % x.NH, row = b * x.S + t;
  float* n = st.n + bh * x.DHQK;
  const int64_t d = (blockIdx.y * kCols + threadIdx.x) * 4;
  const float* q = x.q.p + row * x.q.stride + h * x.DHQK;
  const float* k = x.k.p + row * x.k.stride + h * x.DHQK;
  const int64_t splits = gridDim.z, P = (x.DHQK + splits - 1) / splits;
  const int64_t a_begin = blockIdx.z * P;
  const int rows = static_cast<int>(min(x.DHQK, a_begin + P) - a_begin);
  const bool col = d < x.DHV;
  float* Cb = st.C + bh * x.DHQK * x.DHV + a_begin * x.DHV + (col ? d : 0);
  float4 cv[kSplitBatch];
  auto load_batch = [&](int r0) {
#pragma unroll
    for (int i = 0; i < kSplitBatch; ++i) {
      const int r = r0 + i * kRowGroups;
      cv[i] = col && r < rows ? load4(Cb + r * x.DHV) : make_float4(0, 0, 0, 0);
    }
  };
  load_batch(threadIdx.y);  // the first batch of C is in flight while the gates are worked out
  // Launched programmatically (the first step of a call): C is the only thing read above, and
  // no kernel of this call before the step writes it; the gates, q, k, v are the preceding
  // kernels' outputs.
  wait_for_preceding_kernel();
  const Gates g = head_gates(x, row, h, n, st.m[bh], eps);
  const float scale = 1.0f / sqrtf(static_cast<float>(x.DHQK));
  for (int r = static_cast<int>(block_tid()); r < rows; r += kCols * kRowGroups) {
    ik_s[r] = g.i_act * k[a_begin + r];
    qs_s[r] = q[a_begin + r] * scale;
  }
  __syncthreads();
  float4 acc = make_float4(0, 0, 0, 0);
  if (col) {
    const float4 vd = load4(x.v.p + row * x.v.stride + h * x.DHV + d);
    for (int r0 = threadIdx.y; r0 < rows; r0 += kRowGroups * kSplitBatch) {
      if (r0 != static_cast<int>(threadIdx.y)) load_batch(r0);
#pragma unroll
      for (int i = 0; i < kSplitBatch; ++i) {
        const int r = r0 + i * kRowGroups;
        if (r >= rows) break;
        store4(Cb + r * x.DHV, update4(cv[i], g.f_act, ik_s[r], vd, qs_s[r], acc));
      }
    }
  }
  partial[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  float* h_row = x.h + row * x.h_stride + h * x.DHV;
  if (threadIdx.y == 0 && col)
    store4(row_partials + (bh * splits + blockIdx.z) * x.DHV + d, sum_row_groups(partial));
  if (!last_of_head(sync + bh)) return;
  sum_row_partials(x, row_partials + bh * splits * x.DHV, splits, g.denom, h_row);
  finish_head<Y>(x, row, h, bh, g, n, st.m, sync + bh, norm);
}

bool vec4_ok(const CellBatch& x, const float* C) {
  return x.DHV % 4 == 0 && x.v.stride % 4 == 0 && x.h_stride % 4 == 0 && aligned16(x.v.p) &&
         aligned16(x.h) && aligned16(C);
}

// Grids below this many blocks split rows where they can (about four blocks per SM of an
// H100/H200).
constexpr int64_t kFullGrid = 512;

// The split vec4 kernel: splits so that each block has at least one batch of rows per thread.
int64_t vec4_row_splits(const CellBatch& x, int64_t blocks) {
  int64_t r = 1;
  while (blocks * 2 * r <= kFullGrid && x.DHQK >= 2 * r * kRowGroups * kSplitBatch) r *= 2;
  return r;
}

template <typename Y>
void launch_steps(const CellBatch& x, CellStateDev st, float eps, unsigned* sync,
                  const HeadNormGate& norm, float* row_partials, Stream s) {
  const auto BH = static_cast<unsigned>(x.B * x.NH);
  const dim3 block(kCols, kRowGroups);
  const unsigned wide_tiles = blocks_for(x.DHV, 4 * kCols);
  // 16-byte accesses need 4× fewer blocks; at small batches the scalar kernel's wider grid wins
  // unless rows can be split too (heads of at least 128 rows).
  if (vec4_ok(x, st.C) && BH * wide_tiles < kFullGrid && row_partials != nullptr) {
    const int64_t splits = vec4_row_splits(x, BH * wide_tiles);
    if (splits > 1 && (x.DHQK + splits - 1) / splits <= kMaxSplitRows) {
      const dim3 grid(BH, wide_tiles, static_cast<unsigned>(splits));
      // The first step starts loading C while the kernels before it finish (programmatic
      // launch); later steps read the C their predecessor writes, so they wait for it whole.
      static const bool pdl = pdl_available(step_split_vec4_kernel<Y>);
      for (int64_t t = 0; t < x.S; ++t) {
        launch_maybe_pdl(pdl && t == 0, step_split_vec4_kernel<Y>, grid, block, s, x, t, st, eps,
                         sync, norm, row_partials);
      }
      return;
    }
  }
  const bool vec4 = vec4_ok(x, st.C) && BH * wide_tiles >= kFullGrid;
  const dim3 grid(BH, vec4 ? wide_tiles : blocks_for(x.DHV, kCols));
  for (int64_t t = 0; t < x.S; ++t) {
    if (vec4) {
      step_vec4_kernel<Y><<<grid, block, 0, s>>>(x, t, st, eps, sync, norm);
    } else {
      step_kernel<Y><<<grid, block, 0, s>>>(x, t, st, eps, sync, norm);
    }
    XLSTM_CUDA_CHECK_LAUNCH();
  }
}

}  // namespace

size_t mlstm_step_sync_bytes(const CellBatch& x) {
  return static_cast<size_t>(x.B * x.NH) * sizeof(unsigned);
}

size_t mlstm_step_partial_bytes(const CellBatch& x) {
  // None where the grid is full without splits (large batches); else the most splits
  // step_split_vec4_kernel makes: one batch of rows per thread.
  if (x.B * x.NH * blocks_for(x.DHV, 4 * kCols) >= kFullGrid) return 0;
  const int64_t splits = (x.DHQK + kRowGroups * kSplitBatch - 1) / (kRowGroups * kSplitBatch);
  return static_cast<size_t>(x.B * x.NH * splits * x.DHV) * sizeof(float);
}

void mlstm_step(const CellBatch& x, CellStateDev st, float eps, unsigned* d_sync, Stream s,
                const HeadNormGate* norm, float* row_partials) {
  if (x.B * x.NH == 0 || x.S == 0) return;
  // The kernels read norm.y as Y (null: no norm).
  if (norm != nullptr && norm->y_type == WeightType::BF16) {
    launch_steps<bf16>(x, st, eps, d_sync, *norm, row_partials, s);
  } else {
    launch_steps<float>(x, st, eps, d_sync, norm != nullptr ? *norm : HeadNormGate{}, row_partials,
                        s);
  }
}

}  // namespace xlstm::cuda
