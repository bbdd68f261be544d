// The mLSTM chunkwise form (spec §2.3) for a batch: any S, chunk L ≤ kMaxChunk (a last partial
// chunk follows the same equations), state in and out. Float32 arithmetic with the gate prefix
// sums and stabilizers in float64, mirroring the CPU's mlstm_chunkwise step by step. Four launches:
//   1. gates:   per (b, head): in-chunk cumsums b_l of log σ(f̃), the stabilizer m before every
//               chunk (it depends on the gates only), the final m;
//   2. states:  per (b, head, 32×32 tile of C): C and n before every chunk, and the final state;
//   3. scores:  per (b, head, chunk): S_lj = (q_l·k_j)·scale·exp(b_l − b_j + ĩ_j − m_comb,l), the
//               normalizer and q̄'s scale;
//   4. outputs: per (b, head, chunk, 64 columns): h_l = (q̄_lᵀ C_k + Σ_j S_lj v_j) / denominator.
// Plain CUDA cores in float32: the parity path (float32 models, shapes the tensor-core paths,
// mlstm_chunkwise_tc.cu, _tc_gemm.cu and _tc_wide.cu, do not take). mlstm_chunkwise() below
// picks the path.
#include "backend/cuda/mlstm_chunkwise_impl.cuh"

namespace xlstm::cuda {

namespace chunkwise {

namespace {
size_t align256(size_t n) {
  return (n + 255) / 256 * 256;
}
}  // namespace

ChunkScratch carve(const CellBatch& x, int64_t L, ChunkPath path, void* base, size_t* total) {
  const auto BH = static_cast<size_t>(x.B * x.NH), S = static_cast<size_t>(x.S);
  const size_t NC = static_cast<size_t>((x.S + L - 1) / L);
  const auto DHQK = static_cast<size_t>(x.DHQK), DHV = static_cast<size_t>(x.DHV);
  size_t off = 0;
  auto* p = static_cast<char*>(base);
  auto take = [&](size_t bytes) {
    void* r = p != nullptr ? p + off : nullptr;
    off += align256(bytes);
    return r;
  };
  ChunkScratch c{};
  c.bcum = static_cast<double*>(take(BH * S * 8));
  c.amax = static_cast<double*>(take(BH * NC * 8));
  c.mnext = static_cast<double*>(take(BH * (NC + 1) * 8));
  c.nbuf = static_cast<float*>(take(BH * NC * DHQK * 4));
  if (path == ChunkPath::TensorCores) {
    c.C16 = static_cast<bf16*>(take(BH * NC * DHQK * DHV * 2));
  } else if (path == ChunkPath::TensorCoresGemm) {
    constexpr size_t TL = kMaxChunk;  // chunk rows as the tensor-core passes pad them
    c.C16 = static_cast<bf16*>(take(BH * NC * (DHQK + TL) * DHV * 2));
    c.lhs = static_cast<bf16*>(take(BH * NC * TL * (DHQK + TL) * 2));
    c.hc = static_cast<float*>(take(BH * NC * TL * DHV * 4));
    if (wide_states_supported(x)) c.kw16 = static_cast<bf16*>(take(BH * NC * TL * DHQK * 2));
  } else {
    c.Cbuf = static_cast<float*>(take(BH * NC * DHQK * DHV * 4));
    c.Smat = static_cast<float*>(take(BH * NC * static_cast<size_t>(L * L) * 4));
    c.qs = static_cast<float*>(take(BH * S * 4));
    c.denom = static_cast<float*>(take(BH * S * 4));
  }
  if (total != nullptr) *total = off;
  return c;
}

namespace {

constexpr int kGateThreads = 256, kGateTile = 256;

// 1. Gates. One block per (b, head). A warp per chunk (two positions per lane, L ≤ 64): the
// inclusive cumsum b_l of log σ(f̃) by a warp scan, and a_c = max_l (g − b_l + ĩ_l). Then thread
// 0 runs the stabilizer recurrence m_{c+1} = max(g_c + m_c, a_c) over the chunks, from g and a
// staged in shared memory a tile at a time.
__global__ void chunk_gates_kernel(CellBatch x, int64_t L, int64_t NC, float* m_state,
                                   ChunkScratch sc) {
  __shared__ double g_tile[kGateTile], a_tile[kGateTile];
  __shared__ float m_carry;
  const int64_t bh = blockIdx.x, h = bh % x.NH;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = kGateThreads / 32;
  double* bcum = sc.bcum + bh * x.S;
  for (int64_t c = warp; c < NC; c += warps) {
    const int64_t c0 = c * L, Lc = min(L, x.S - c0), l0 = 2 * lane, l1 = l0 + 1;
    double a0 = 0.0, a1 = 0.0;
    float ig0 = 0.0f, ig1 = 0.0f;
    if (l0 < Lc) {
      const int64_t row = token_row(x, bh, c0 + l0);
      a0 = log_sigmoid(x.fgate.p[row * x.fgate.stride + h]);
      ig0 = x.igate.p[row * x.igate.stride + h];
    }
    if (l1 < Lc) {
      const int64_t row = token_row(x, bh, c0 + l1);
      a1 = log_sigmoid(x.fgate.p[row * x.fgate.stride + h]);
      ig1 = x.igate.p[row * x.igate.stride + h];
    }
    double incl = a0 + a1;  // inclusive scan of the pair sums over the lanes
    for (int o = 1; o < 32; o <<= 1) {
      const double up = __shfl_up_sync(0xffffffffu, incl, o);
      if (lane >= o) incl += up;
    }
    double excl = __shfl_up_sync(0xffffffffu, incl, 1);
    if (lane == 0) excl = 0.0;
    const double b0 = excl + a0, b1 = b0 + a1;
    if (l0 < Lc) bcum[c0 + l0] = b0;
    if (l1 < Lc) bcum[c0 + l1] = b1;
    const int64_t last = Lc - 1;
    const double g0 = __shfl_sync(0xffffffffu, b0, static_cast<int>(last / 2));
    const double g1 = __shfl_sync(0xffffffffu, b1, static_cast<int>(last / 2));
    const double g = last % 2 == 0 ? g0 : g1;
    double amax = -INFINITY;
    if (l0 < Lc) amax = fmax(amax, g - b0 + ig0);
    if (l1 < Lc) amax = fmax(amax, g - b1 + ig1);
    for (int o = 16; o > 0; o >>= 1) amax = fmax(amax, __shfl_xor_sync(0xffffffffu, amax, o));
    if (lane == 0) sc.amax[bh * NC + c] = amax;
  }
  __syncthreads();
  double* mn = sc.mnext + bh * (NC + 1);
  if (threadIdx.x == 0) {
    m_carry = m_state[bh];
    mn[0] = m_carry;
  }
  for (int64_t t0 = 0; t0 < NC; t0 += kGateTile) {
    const int64_t n = min(static_cast<int64_t>(kGateTile), NC - t0);
    for (int64_t i = threadIdx.x; i < n; i += kGateThreads) {
      const int64_t c = t0 + i;
      g_tile[i] = bcum[min((c + 1) * L, x.S) - 1];
      a_tile[i] = sc.amax[bh * NC + c];
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      float m = m_carry;
      for (int64_t i = 0; i < n; ++i) {
        const double next = fmax(g_tile[i] + static_cast<double>(m), a_tile[i]);
        mn[t0 + i + 1] = next;
        m = static_cast<float>(next);  // the state between chunks is float32, as on the CPU
      }
      m_carry = m;
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) m_state[bh] = m_carry;
}

}  // namespace

void launch_gates(const CellBatch& x, int64_t L, int64_t NC, float* m_state, const ChunkScratch& sc,
                  Stream s) {
  chunk_gates_kernel<<<static_cast<unsigned>(x.B * x.NH), kGateThreads, 0, s>>>(x, L, NC, m_state,
                                                                                sc);
  XLSTM_CUDA_CHECK_LAUNCH();
}

}  // namespace chunkwise

namespace {

using chunkwise::ChunkScratch;
using chunkwise::token_row;

constexpr int L_MAX = static_cast<int>(kMaxChunk);

constexpr int kTile = 32, kRowGroups = 8, kRowsPerThread = kTile / kRowGroups;

// 2. States. Block (32 columns × 8 row groups) owns a 32×32 tile of C in registers and walks the
// chunks: saves C (and n, in the first column tile) before each chunk, then
// C ← γ·C + Σ_l (k_l·w_l) v_lᵀ with γ = exp(g + m_c − m_{c+1}), w_l = exp(g − b_l + ĩ_l − m_{c+1}).
__global__ void chunk_states_kernel(CellBatch x, int64_t L, int64_t NC, float* C, float* n,
                                    ChunkScratch sc) {
  __shared__ float ks[L_MAX][kTile + 1];
  __shared__ float vs[L_MAX][kTile + 1];
  __shared__ float w[L_MAX];
  const int64_t bh = blockIdx.x, h = bh % x.NH;
  const int64_t r0 = blockIdx.y * kTile, d = blockIdx.z * kTile + threadIdx.x;
  const int tid = threadIdx.y * kTile + threadIdx.x;
  const bool n_owner = blockIdx.z == 0 && threadIdx.y == 0 && r0 + threadIdx.x < x.DHQK;
  float* Cb = C + bh * x.DHQK * x.DHV;
  float creg[kRowsPerThread];
  for (int i = 0; i < kRowsPerThread; ++i) {
    const int64_t r = r0 + threadIdx.y + kRowGroups * i;
    creg[i] = r < x.DHQK && d < x.DHV ? Cb[r * x.DHV + d] : 0.0f;
  }
  float nreg = n_owner ? n[bh * x.DHQK + r0 + threadIdx.x] : 0.0f;
  const double* bcum = sc.bcum + bh * x.S;
  const double* mn = sc.mnext + bh * (NC + 1);
  for (int64_t c = 0; c < NC; ++c) {
    const int64_t c0 = c * L, Lc = min(L, x.S - c0);
    float* Cs = sc.Cbuf + (bh * NC + c) * x.DHQK * x.DHV;
    for (int i = 0; i < kRowsPerThread; ++i) {
      const int64_t r = r0 + threadIdx.y + kRowGroups * i;
      if (r < x.DHQK && d < x.DHV) Cs[r * x.DHV + d] = creg[i];
    }
    if (n_owner) sc.nbuf[(bh * NC + c) * x.DHQK + r0 + threadIdx.x] = nreg;
    const double g = bcum[c0 + Lc - 1];
    const double m_c = static_cast<float>(mn[c]), m_next = mn[c + 1];
    const float gamma = expf(static_cast<float>(g + m_c - m_next));
    __syncthreads();  // the previous chunk's ks/vs/w are consumed
    for (int64_t e = tid; e < Lc * kTile; e += kTile * kRowGroups) {
      const int64_t l = e / kTile, j = e % kTile;
      const int64_t row = token_row(x, bh, c0 + l);
      const int64_t r = r0 + j, dd = blockIdx.z * kTile + j;
      ks[l][j] = r < x.DHQK ? x.k.p[row * x.k.stride + h * x.DHQK + r] : 0.0f;
      vs[l][j] = dd < x.DHV ? x.v.p[row * x.v.stride + h * x.DHV + dd] : 0.0f;
    }
    if (tid < Lc) {
      const int64_t row = token_row(x, bh, c0 + tid);
      w[tid] = expf(
          static_cast<float>(g - bcum[c0 + tid] + x.igate.p[row * x.igate.stride + h] - m_next));
    }
    __syncthreads();
    for (int i = 0; i < kRowsPerThread; ++i) creg[i] *= gamma;
    for (int64_t l = 0; l < Lc; ++l) {
      const float vd = vs[l][threadIdx.x];
      for (int i = 0; i < kRowsPerThread; ++i)
        creg[i] += (ks[l][threadIdx.y + kRowGroups * i] * w[l]) * vd;
    }
    if (n_owner) {
      nreg *= gamma;
      for (int64_t l = 0; l < Lc; ++l) nreg += ks[l][threadIdx.x] * w[l];
    }
  }
  for (int i = 0; i < kRowsPerThread; ++i) {
    const int64_t r = r0 + threadIdx.y + kRowGroups * i;
    if (r < x.DHQK && d < x.DHV) Cb[r * x.DHV + d] = creg[i];
  }
  if (n_owner) n[bh * x.DHQK + r0 + threadIdx.x] = nreg;
}

constexpr int kThreads = 256;

// 3. Scores. 16×16 threads, each a 4×4 piece of the L×L matrix of q·k dot products over
// 32-wide slices of DHQK staged in shared memory.
__global__ void chunk_scores_kernel(CellBatch x, int64_t L, int64_t NC, float eps,
                                    ChunkScratch sc) {
  __shared__ double bs[L_MAX], mcomb[L_MAX];
  __shared__ float igs[L_MAX];
  __shared__ float qsm[L_MAX][kTile + 1], ksm[L_MAX][kTile + 1];
  __shared__ float Ss[L_MAX][L_MAX + 1];
  const int64_t bh = blockIdx.x, h = bh % x.NH, c = blockIdx.y;
  const int64_t c0 = c * L, Lc = min(L, x.S - c0);
  const int tid = threadIdx.x;
  const double m_k = static_cast<float>(sc.mnext[bh * (NC + 1) + c]);
  const float scale = 1.0f / sqrtf(static_cast<float>(x.DHQK));
  if (tid < Lc) {
    const int64_t row = token_row(x, bh, c0 + tid);
    bs[tid] = sc.bcum[bh * x.S + c0 + tid];
    igs[tid] = x.igate.p[row * x.igate.stride + h];
  }
  __syncthreads();
  if (tid < Lc) {
    double mx = bs[tid] + m_k;
    for (int j = 0; j <= tid; ++j) mx = fmax(mx, bs[tid] - bs[j] + igs[j]);
    mcomb[tid] = mx;
  }
  const int ty = tid / 16, tx = tid % 16;
  float acc[4][4] = {};
  for (int64_t a0 = 0; a0 < x.DHQK; a0 += kTile) {
    __syncthreads();
    for (int e = tid; e < L_MAX * kTile; e += kThreads) {
      const int l = e / kTile, aa = e % kTile;
      const int64_t a = a0 + aa;
      float qv = 0.0f, kv = 0.0f;
      if (l < Lc && a < x.DHQK) {
        const int64_t row = token_row(x, bh, c0 + l);
        qv = x.q.p[row * x.q.stride + h * x.DHQK + a];
        kv = x.k.p[row * x.k.stride + h * x.DHQK + a];
      }
      qsm[l][aa] = qv;
      ksm[l][aa] = kv;
    }
    __syncthreads();
    const int64_t na = min(static_cast<int64_t>(kTile), x.DHQK - a0);
    for (int aa = 0; aa < na; ++aa) {
      for (int i = 0; i < 4; ++i)
        for (int jj = 0; jj < 4; ++jj) acc[i][jj] += qsm[ty * 4 + i][aa] * ksm[tx * 4 + jj][aa];
    }
  }
  float* Sg = sc.Smat + (bh * NC + c) * L * L;
  for (int i = 0; i < 4; ++i) {
    for (int jj = 0; jj < 4; ++jj) {
      const int l = ty * 4 + i, j = tx * 4 + jj;
      float s = 0.0f;
      if (l < Lc && j <= l) {
        s = acc[i][jj] * scale * expf(static_cast<float>(bs[l] - bs[j] + igs[j] - mcomb[l]));
      }
      Ss[l][j] = s;
      if (l < L && j < L) Sg[l * L + j] = s;
    }
  }
  __syncthreads();
  if (tid < Lc) {
    const int l = tid;
    float den = 0.0f;
    for (int j = 0; j <= l; ++j) den += Ss[l][j];
    const float qscale = scale * expf(static_cast<float>(bs[l] + m_k - mcomb[l]));
    const int64_t row = token_row(x, bh, c0 + l);
    const float* q = x.q.p + row * x.q.stride + h * x.DHQK;
    const float* nk = sc.nbuf + (bh * NC + c) * x.DHQK;
    float qn = 0.0f;
    for (int64_t a = 0; a < x.DHQK; ++a) qn += (q[a] * qscale) * nk[a];
    sc.qs[bh * x.S + c0 + l] = qscale;
    sc.denom[bh * x.S + c0 + l] = fmaxf(fabsf(qn + den), expf(static_cast<float>(-mcomb[l]))) + eps;
  }
}

constexpr int kOutCols = 64, kOutRowGroups = kThreads / kOutCols, kOutRows = L_MAX / kOutRowGroups;

// 4. Outputs. 64 columns × 4 row groups; each thread accumulates 16 rows of one column: first
// q̄ᵀC over 32-wide slices of DHQK (q̄ staged in shared memory), then the intra-chunk S·V.
__global__ void chunk_outputs_kernel(CellBatch x, int64_t L, int64_t NC, ChunkScratch sc) {
  __shared__ float qb[L_MAX][kTile + 1];
  __shared__ float Ss[L_MAX][L_MAX + 1];
  const int64_t bh = blockIdx.x, h = bh % x.NH, c = blockIdx.y;
  const int64_t c0 = c * L, Lc = min(L, x.S - c0);
  const int tid = threadIdx.x, tx = tid % kOutCols, ty = tid / kOutCols;
  const int64_t d = blockIdx.z * kOutCols + tx;
  const bool col_ok = d < x.DHV;
  const float* Ck = sc.Cbuf + (bh * NC + c) * x.DHQK * x.DHV;
  float acc[kOutRows] = {};
  for (int64_t a0 = 0; a0 < x.DHQK; a0 += kTile) {
    __syncthreads();
    for (int e = tid; e < L_MAX * kTile; e += kThreads) {
      const int l = e / kTile, aa = e % kTile;
      const int64_t a = a0 + aa;
      float v = 0.0f;
      if (l < Lc && a < x.DHQK) {
        const int64_t row = token_row(x, bh, c0 + l);
        v = x.q.p[row * x.q.stride + h * x.DHQK + a] * sc.qs[bh * x.S + c0 + l];
      }
      qb[l][aa] = v;
    }
    __syncthreads();
    const int64_t na = min(static_cast<int64_t>(kTile), x.DHQK - a0);
    for (int aa = 0; aa < na; ++aa) {
      const float cv = col_ok ? Ck[(a0 + aa) * x.DHV + d] : 0.0f;
      for (int i = 0; i < kOutRows; ++i) acc[i] += qb[ty + kOutRowGroups * i][aa] * cv;
    }
  }
  const float* Sg = sc.Smat + (bh * NC + c) * L * L;
  for (int e = tid; e < L_MAX * L_MAX; e += kThreads) {
    const int l = e / L_MAX, j = e % L_MAX;
    Ss[l][j] = l < Lc && j < Lc ? Sg[l * L + j] : 0.0f;
  }
  __syncthreads();
  for (int64_t j = 0; j < Lc; ++j) {
    const int64_t row = token_row(x, bh, c0 + j);
    const float vj = col_ok ? x.v.p[row * x.v.stride + h * x.DHV + d] : 0.0f;
    for (int i = 0; i < kOutRows; ++i) acc[i] += Ss[ty + kOutRowGroups * i][j] * vj;
  }
  if (!col_ok) return;
  for (int i = 0; i < kOutRows; ++i) {
    const int64_t l = ty + kOutRowGroups * i;
    if (l >= Lc) continue;
    const int64_t row = token_row(x, bh, c0 + l);
    x.h[row * x.h_stride + h * x.DHV + d] = acc[i] / sc.denom[bh * x.S + c0 + l];
  }
}

}  // namespace

bool mlstm_chunkwise_uses_tensor_cores(const CellBatch& x, int64_t chunk, bool allow) {
  return allow && chunkwise::tc_supported(x, chunk);
}

namespace {

chunkwise::ChunkPath path_for(const CellBatch& x, int64_t L, bool tensor_cores, bool with_gemm) {
  using chunkwise::ChunkPath;
  if (!mlstm_chunkwise_uses_tensor_cores(x, L, tensor_cores)) return ChunkPath::F32;
  return with_gemm && x.DHQK >= kGemmOutputsMinDim ? ChunkPath::TensorCoresGemm
                                                   : ChunkPath::TensorCores;
}

}  // namespace

bool mlstm_chunkwise_gemm_outputs(const CellBatch& x, int64_t chunk, bool tensor_cores) {
  return path_for(x, chunk, tensor_cores, true) == chunkwise::ChunkPath::TensorCoresGemm;
}

size_t mlstm_chunkwise_scratch_bytes(const CellBatch& x, int64_t chunk, bool tensor_cores,
                                     bool with_gemm) {
  size_t total = 0;
  const int64_t L = std::min(chunk, kMaxChunk);
  chunkwise::carve(x, L, path_for(x, L, tensor_cores, with_gemm), nullptr, &total);
  return total;
}

void mlstm_chunkwise(const CellBatch& x, CellStateDev st, float eps, int64_t chunk, void* d_scratch,
                     Stream s, bool tensor_cores, Gemm* gemm) {
  using chunkwise::ChunkPath;
  if (chunk <= 0 || chunk > kMaxChunk) {
    throw InvalidInput(tagged("mlstm_chunkwise", "[cuda] chunk size " + std::to_string(chunk) +
                                                     " outside [1, " + std::to_string(kMaxChunk) +
                                                     "]"));
  }
  const int64_t BH = x.B * x.NH;
  if (BH == 0 || x.S == 0) return;
  const int64_t L = chunk, NC = (x.S + L - 1) / L;
  const ChunkPath path = path_for(x, L, tensor_cores, gemm != nullptr);
  if (path != ChunkPath::F32 && reinterpret_cast<uintptr_t>(st.C) % 32 != 0)
    throw InvalidInput("[cuda] mlstm_chunkwise: the tensor-core path needs C 32-byte aligned");
  if (NC > 65535) {
    throw InvalidInput("[cuda] mlstm_chunkwise: " + std::to_string(NC) +
                       " chunks in one call (at most 65535: a shorter segment or a longer chunk)");
  }
  const ChunkScratch sc = chunkwise::carve(x, L, path, d_scratch, nullptr);
  chunkwise::launch_gates(x, L, NC, st.m, sc, s);
  if (path == ChunkPath::TensorCores) {
    chunkwise::launch_tc(x, L, NC, st, eps, sc, s);
    return;
  }
  if (path == ChunkPath::TensorCoresGemm) {
    if (chunkwise::wide_states_supported(x))
      chunkwise::launch_wide_states(x, L, NC, st, sc, x.DHQK + kMaxChunk, s);
    else
      chunkwise::launch_tc_states(x, L, NC, st, sc, x.DHQK + kMaxChunk, s);
    chunkwise::launch_tc_gemm_outputs(x, L, NC, eps, sc, *gemm, s);
    return;
  }
  const auto gbh = static_cast<unsigned>(BH), gnc = static_cast<unsigned>(NC);
  chunk_states_kernel<<<dim3(gbh, blocks_for(x.DHQK, kTile), blocks_for(x.DHV, kTile)),
                        dim3(kTile, kRowGroups), 0, s>>>(x, L, NC, st.C, st.n, sc);
  XLSTM_CUDA_CHECK_LAUNCH();
  chunk_scores_kernel<<<dim3(gbh, gnc), kThreads, 0, s>>>(x, L, NC, eps, sc);
  XLSTM_CUDA_CHECK_LAUNCH();
  chunk_outputs_kernel<<<dim3(gbh, gnc, blocks_for(x.DHV, kOutCols)), kThreads, 0, s>>>(x, L, NC,
                                                                                        sc);
  XLSTM_CUDA_CHECK_LAUNCH();
}

}  // namespace xlstm::cuda
