// The mLSTM chunkwise form on bf16 tensor cores (WMMA 16×16×16, float32 accumulation), for bf16
// models. Same equations, gate pass and stabilizers as mlstm_chunkwise.cu; two launches after it:
//   states:  per (b, head, 64×64 tile of C): walks the chunks with the tile in accumulators;
//            saves C (bf16) and n before each chunk, then C ← γ·C + (K ⊙ w)ᵀ V, n ← γ·n + Kᵀw;
//   outputs: per (b, head, chunk, one or two 64-column tiles of h): S = Q Kᵀ once, decayed and
//            masked in float32, the normalizer, then per tile h = (Q̄ C_chunk + S V) / denominator.
// Rounded to bf16 for the products: q, k·w, v, the decayed scores and the saved C. The state
// carried between calls, gate math, row sums and the normalizer stay float32.
#include "backend/cuda/mlstm_chunkwise_tc.cuh"

namespace xlstm::cuda::chunkwise {

namespace {

// One chunk's inputs of a states block, in registers: loaded a chunk ahead, so the loads are in
// flight while the previous chunk's products run. Thread t holds float4 pieces e = t + i·kThreads
// (i < kPieces) of the [TL, TT] slices of k and v: row e / (TT/4), columns e % (TT/4) · 4.
constexpr int kPieces = TL * TT / 4 / kThreads;
struct ChunkInputs {
  float4 k[kPieces], v[kPieces];
  double b;    // thread t < TL: b_t of the chunk
  float ig;    // thread t < TL: ĩ_t
  double g;    // the chunk's last cumsum
  int64_t Lc;  // rows in the chunk
};

__device__ __forceinline__ void load_chunk(const CellBatch& x, int64_t bh, int64_t h, int r0,
                                           int d0, int64_t L, int64_t c, const double* bcum,
                                           ChunkInputs& in) {
  const int tid = threadIdx.x;
  const int64_t c0 = c * L, Lc = min(L, x.S - c0);
  in.Lc = Lc;
#pragma unroll
  for (int i = 0; i < kPieces; ++i) {
    const int e = tid + i * kThreads, l = e / (TT / 4), j = e % (TT / 4) * 4;
    in.k[i] = in.v[i] = make_float4(0, 0, 0, 0);
    if (l < Lc) {
      const int64_t row = token_row(x, bh, c0 + l);
      in.k[i] = load4(x.k.p + row * x.k.stride + h * x.DHQK + r0 + j);
      in.v[i] = load4(x.v.p + row * x.v.stride + h * x.DHV + d0 + j);
    }
  }
  in.b = 0.0, in.ig = 0.0f;
  if (tid < Lc) {
    in.b = bcum[c0 + tid];
    in.ig = x.igate.p[token_row(x, bh, c0 + tid) * x.igate.stride + h];
  }
  in.g = bcum[c0 + Lc - 1];
}

// States. Block = 4 warps over a 64×64 tile of C (rows r0.., columns d0..); warp w holds rows
// [16w, 16w + 16) as four accumulator fragments for the whole walk over the chunks. Each chunk's
// saved C takes chunk_rows rows of sc.C16: DHQK, or DHQK + TL where the outputs are one batched
// GEMM (mlstm_chunkwise_tc_gemm.cu), whose right operand is [C; v]: the blocks of the first row
// tile then also write the chunk's v (bf16, zero past the chunk) below C.
// Three blocks per SM (168 registers): the walk over the chunks is latency-bound.
__global__ void __launch_bounds__(kThreads, 3)
    tc_states_kernel(CellBatch x, int64_t L, int64_t NC, float* C, float* n, ChunkScratch sc,
                     int64_t chunk_rows) {
  __shared__ __align__(32) bf16 kw[TL][TT + PAD_H];   // k_l ⊙ w_l, columns = rows of C
  __shared__ __align__(32) bf16 vs[TL][TT + PAD_H];   // v_l, columns of the tile
  __shared__ __align__(32) float ft[TT][TT + PAD_F];  // C staging, then k_l ⊙ w_l in float32
  __shared__ float w[TL];
  const int64_t bh = blockIdx.x, h = bh % x.NH;
  const int ty = static_cast<int>(blockIdx.y), tz = static_cast<int>(blockIdx.z);
  const int r0 = ty * TT, d0 = tz * TT;
  const int tid = threadIdx.x, warp = tid / 32;
  const bool n_owner = tz == 0 && tid < TT;
  float* Cb = C + bh * x.DHQK * x.DHV;
  const double* bcum = sc.bcum + bh * x.S;
  const double* mn = sc.mnext + bh * (NC + 1);
  ChunkInputs in;
  load_chunk(x, bh, h, r0, d0, L, 0, bcum, in);
  FragAcc acc[4];
  for (int f = 0; f < 4; ++f) {
    wmma::load_matrix_sync(acc[f], Cb + (r0 + warp * 16) * x.DHV + d0 + f * 16,
                           static_cast<unsigned>(x.DHV), wmma::mem_row_major);
  }
  float nreg = n_owner ? n[bh * x.DHQK + r0 + tid] : 0.0f;
  for (int64_t c = 0; c < NC; ++c) {
    const int64_t Lc = in.Lc;
    // C before the chunk, rounded to bf16 for the outputs pass.
    for (int f = 0; f < 4; ++f)
      wmma::store_matrix_sync(&ft[warp * 16][f * 16], acc[f], TT + PAD_F, wmma::mem_row_major);
    const double g = in.g;
    const double m_c = static_cast<float>(mn[c]), m_next = mn[c + 1];
    const float gamma = expf(static_cast<float>(g + m_c - m_next));
    if (tid < TL) w[tid] = tid < Lc ? expf(static_cast<float>(g - in.b + in.ig - m_next)) : 0.0f;
    __syncthreads();
    bf16* dst = sc.C16 + ((bh * NC + c) * chunk_rows + r0) * x.DHV + d0;
    for (int e = tid; e < TT * TT / 4; e += kThreads) {
      const int r = e / (TT / 4), j = e % (TT / 4) * 4;
      store4(dst + r * x.DHV + j, make_float4(ft[r][j], ft[r][j + 1], ft[r][j + 2], ft[r][j + 3]));
    }
    if (n_owner) sc.nbuf[(bh * NC + c) * x.DHQK + r0 + tid] = nreg;
    __syncthreads();  // ft is free again
#pragma unroll
    for (int i = 0; i < kPieces; ++i) {
      const int e = tid + i * kThreads, l = e / (TT / 4), j = e % (TT / 4) * 4;
      float4 kv = in.k[i];
      const float wl = w[l];
      kv.x *= wl, kv.y *= wl, kv.z *= wl, kv.w *= wl;
      ft[l][j] = kv.x, ft[l][j + 1] = kv.y, ft[l][j + 2] = kv.z, ft[l][j + 3] = kv.w;
      store4(&kw[l][j], kv);
      store4(&vs[l][j], in.v[i]);
      if (chunk_rows > x.DHQK && ty == 0)
        store4(sc.C16 + ((bh * NC + c) * chunk_rows + x.DHQK + l) * x.DHV + d0 + j, in.v[i]);
    }
    if (c + 1 < NC) load_chunk(x, bh, h, r0, d0, L, c + 1, bcum, in);  // in flight meanwhile
    __syncthreads();
    if (n_owner) {
      nreg *= gamma;
      for (int l = 0; l < Lc; ++l) nreg += ft[l][tid];
    }
    for (int f = 0; f < 4; ++f)
      for (int i = 0; i < acc[f].num_elements; ++i) acc[f].x[i] *= gamma;
    const int ksteps = static_cast<int>((Lc + 15) / 16);
    mma_tile_row<FragAcol, FragB>(
        acc, ksteps, [&](int kk) { return &kw[kk * 16][warp * 16]; }, TT + PAD_H,
        [&](int kk, int f) { return &vs[kk * 16][f * 16]; }, TT + PAD_H);
    __syncthreads();  // kw, vs and ft are rewritten by the next chunk
  }
  for (int f = 0; f < 4; ++f) {
    wmma::store_matrix_sync(Cb + (r0 + warp * 16) * x.DHV + d0 + f * 16, acc[f],
                            static_cast<unsigned>(x.DHV), wmma::mem_row_major);
  }
  if (n_owner) n[bh * x.DHQK + r0 + tid] = nreg;
}

// The outputs pass holds all of q (bf16, [TL][Dq]) in shared memory and streams k (for Q Kᵀ) and
// the chunk's C (for q̄ C) through one buffer in slices of kSliceRows rows of the head dim: a
// 1024-wide head (the mLSTM v1 block of a 2048-wide stack) fits, and a head up to kSliceRows wide
// takes a single slice, as before.
constexpr int kSliceRows = 256;

__host__ __device__ inline int out_slice(int64_t Dq) {  // Dq a multiple of TT: a divisor of it
  int ks = static_cast<int>(Dq < kSliceRows ? Dq : kSliceRows);
  while (Dq % ks != 0) ks -= TT;
  return ks;
}

// Dynamic shared memory of the outputs pass for head dim Dq, in the order of the pointers below.
struct OutLayout {
  size_t qs, kc, sf, sb, vs, rows, total;
  __host__ __device__ explicit OutLayout(int64_t Dq) {
    const auto ldq = static_cast<size_t>(Dq + PAD_H);
    const auto ks = static_cast<size_t>(out_slice(Dq));
    qs = 0;
    kc = qs + TL * ldq * 2;
    const size_t k_elems = TL * (ks + PAD_H), c_elems = ks * (TT + PAD_H);
    sf = kc + (k_elems > c_elems ? k_elems : c_elems) * 2;
    sb = sf + TL * (TL + PAD_F) * 4;
    vs = sb + TL * (TL + PAD_H) * 2;
    rows = vs + TL * (TT + PAD_H) * 2;
    // bs, mcomb (double); igs, qscale, denom; n [Dq]; q·n partials [TL][Dq / 64] (float)
    total = rows + TL * (8 + 8 + 4 + 4 + 4) + static_cast<size_t>(Dq) * 4 + TL * (Dq / 64) * 4;
  }
};

// Outputs. Block = 8 warps over one chunk's 64 rows and `tiles` 64-column tiles of h; warp w owns
// rows [16·(w % 4), +16) and columns [32·(w / 4), +32) of every product, and rows [8w, 8w + 8) of
// the per-row math. The scores are computed once per block and reused for each column tile.
// k[:, a0 : a0 + ks) of the chunk's rows as bf16 into kc [TL][ks + PAD_H] (zero past the chunk).
__device__ __forceinline__ void load_k_slice(const CellBatch& x, int64_t bh, int64_t h, int64_t c0,
                                             int64_t Lc, int a0, int ks, bf16* kc) {
  const int pieces = TL * ks / 4, tid = threadIdx.x;
  for (int e0 = tid; e0 < pieces; e0 += kUnroll * kOutThreads) {
    float4 kv[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int e = e0 + u * kOutThreads, l = e / (ks / 4), a = e % (ks / 4) * 4;
      kv[u] = make_float4(0, 0, 0, 0);
      if (e < pieces && l < Lc)
        kv[u] = load4(x.k.p + token_row(x, bh, c0 + l) * x.k.stride + h * x.DHQK + a0 + a);
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int e = e0 + u * kOutThreads, l = e / (ks / 4), a = e % (ks / 4) * 4;
      if (e < pieces) store4(kc + l * (ks + PAD_H) + a, kv[u]);
    }
  }
}

// Rows [a0, a0 + ks) and columns [d0, d0 + TT) of the chunk's C (bf16, saved by the states pass)
// into kc [ks][TT + PAD_H].
__device__ __forceinline__ void load_c_slice(const bf16* Cc, int64_t DHV, int a0, int ks, int d0,
                                             bf16* kc) {
  const int pieces = ks * TT / 8, tid = threadIdx.x;
  for (int e0 = tid; e0 < pieces; e0 += kUnroll * kOutThreads) {
    uint4 cv[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int e = e0 + u * kOutThreads, r = e / (TT / 8), j = e % (TT / 8) * 8;
      if (e < pieces) cv[u] = *reinterpret_cast<const uint4*>(Cc + (a0 + r) * DHV + d0 + j);
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int e = e0 + u * kOutThreads, r = e / (TT / 8), j = e % (TT / 8) * 8;
      if (e < pieces) *reinterpret_cast<uint4*>(kc + r * (TT + PAD_H) + j) = cv[u];
    }
  }
}

__global__ void __launch_bounds__(kOutThreads, 2)
    tc_outputs_kernel(CellBatch x, int64_t L, int64_t NC, float eps, int tiles, ChunkScratch sc) {
  extern __shared__ __align__(128) unsigned char smem[];
  const int Dq = static_cast<int>(x.DHQK), ldq = Dq + PAD_H, parts = Dq / 64;
  const int ks = out_slice(Dq), ldk = ks + PAD_H;
  const OutLayout lay(Dq);
  auto* qs = reinterpret_cast<bf16*>(smem + lay.qs);   // q, then q̄ = q · qscale   [TL][ldq]
  auto* kc = reinterpret_cast<bf16*>(smem + lay.kc);   // a slice: k [TL][ldk] or C [ks][TT+PAD_H]
  auto* sf = reinterpret_cast<float*>(smem + lay.sf);  // q·k, then the output tile [TL][TL+PAD_F]
  auto* sb = reinterpret_cast<bf16*>(smem + lay.sb);   // decayed scores [TL][TL + PAD_H]
  auto* vsm = reinterpret_cast<bf16*>(smem + lay.vs);  // v [TL][TT + PAD_H]
  auto* bs = reinterpret_cast<double*>(smem + lay.rows);
  double* mcomb = bs + TL;
  auto* igs = reinterpret_cast<float*>(mcomb + TL);
  float* qscale = igs + TL;
  float* denom = qscale + TL;
  float* nks = denom + TL;    // n before the chunk [Dq]
  float* qn_part = nks + Dq;  // [TL][parts]: q·n over 64-wide slices, summed in a fixed order
  const int64_t bh = blockIdx.x, h = bh % x.NH, c = blockIdx.y;
  const int64_t c0 = c * L, Lc = min(L, x.S - c0);
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int rw = warp % 4, ch = warp / 4;  // the products' row group and column half
  const double m_k = static_cast<float>(sc.mnext[bh * (NC + 1) + c]);
  const float scale = 1.0f / sqrtf(static_cast<float>(Dq));
  if (tid < Lc) {
    const int64_t row = token_row(x, bh, c0 + tid);
    bs[tid] = sc.bcum[bh * x.S + c0 + tid];
    igs[tid] = x.igate.p[row * x.igate.stride + h];
  }
  for (int a = tid; a < Dq; a += kOutThreads) nks[a] = sc.nbuf[(bh * NC + c) * x.DHQK + a];
  __syncthreads();
  // q as bf16, and q·n in float32 from the loaded q: 16 lanes hold 64 consecutive values of one
  // row (Dq/4 is a multiple of 16), reduced by shuffles; lane 0 of each 16 writes its part.
  const int pieces = TL * Dq / 4;
  for (int e0 = tid; e0 < pieces; e0 += kUnroll * kOutThreads) {
    float4 qv[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int e = e0 + u * kOutThreads, l = e / (Dq / 4), a = e % (Dq / 4) * 4;
      qv[u] = make_float4(0, 0, 0, 0);
      if (e < pieces && l < Lc)
        qv[u] = load4(x.q.p + token_row(x, bh, c0 + l) * x.q.stride + h * Dq + a);
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int e = e0 + u * kOutThreads, l = e / (Dq / 4), a = e % (Dq / 4) * 4;
      float p = 0.0f;
      if (e < pieces) {
        store4(qs + l * ldq + a, qv[u]);
        p = qv[u].x * nks[a] + qv[u].y * nks[a + 1] + qv[u].z * nks[a + 2] + qv[u].w * nks[a + 3];
      }
      for (int o = 8; o > 0; o >>= 1) p += __shfl_xor_sync(0xffffffffu, p, o);
      if (e < pieces && lane % 16 == 0) qn_part[l * parts + a / 64] = p;
    }
  }
  if (tid < Lc) {
    mcomb[tid] = combined_stabilizer(tid, bs, igs, m_k);
  }
  // S = Q Kᵀ (raw dot products), k streamed in slices of the head dim.
  {
    FragAcc s[2];
    for (auto& f : s) wmma::fill_fragment(f, 0.0f);
    for (int a0 = 0; a0 < Dq; a0 += ks) {
      __syncthreads();  // the previous slice's products are done with kc
      load_k_slice(x, bh, h, c0, Lc, a0, ks, kc);
      __syncthreads();
      mma_tile_row<FragA, FragBcol>(
          s, ks / 16, [&](int kk) { return qs + rw * 16 * ldq + a0 + kk * 16; }, ldq,
          [&](int kk, int f) { return kc + (ch * 2 + f) * 16 * ldk + kk * 16; }, ldk);
    }
    store_score_tiles(sf, s, rw, ch);
  }
  __syncthreads();  // mcomb and every warp's S rows are in place
  // Per row (a warp's own 8): decay and causal mask, row sum, the normalizer and q̄'s scale.
  for (int r = 0; r < TL / kOutWarps; ++r) {
    const int l = warp * (TL / kOutWarps) + r;
    float sum = 0.0f;
    for (int j = lane; j < TL; j += 32) {
      const float sv = decayed_score(sf, l, j, Lc, scale, bs, igs, mcomb);
      sb[l * (TL + PAD_H) + j] = __float2bfloat16(sv);
      sum += sv;
    }
    sum = warp_sum(sum);
    if (lane == 0) {
      if (l < Lc) {
        float qn = 0.0f;
        for (int p = 0; p < parts; ++p) qn += qn_part[l * parts + p];
        const float qsc = scale * expf(static_cast<float>(bs[l] + m_k - mcomb[l]));
        qscale[l] = qsc;
        denom[l] = fmaxf(fabsf(qsc * qn + sum), expf(static_cast<float>(-mcomb[l]))) + eps;
      } else {
        qscale[l] = 0.0f;
        denom[l] = 1.0f;
      }
    }
  }
  __syncwarp();
  for (int r = 0; r < TL / kOutWarps; ++r) {
    const int l = warp * (TL / kOutWarps) + r;
    const float qsc = qscale[l];
    for (int a = 2 * lane; a < Dq; a += 64) {
      auto* p = reinterpret_cast<__nv_bfloat162*>(qs + l * ldq + a);
      const float2 v = __bfloat1622float2(*p);
      *p = __floats2bfloat162_rn(v.x * qsc, v.y * qsc);
    }
  }
  const bf16* Cc = sc.C16 + (bh * NC + c) * x.DHQK * x.DHV;  // the chunk's C [Dq][DHV]
  for (int t = 0; t < tiles; ++t) {
    const int d0 = (static_cast<int>(blockIdx.z) * tiles + t) * TT;
    FragAcc o[2];
    for (auto& f : o) wmma::fill_fragment(f, 0.0f);
    // O = q̄ C (the inter-chunk part, C streamed in row slices) + S̄ v (the intra-chunk part).
    for (int a0 = 0; a0 < Dq; a0 += ks) {
      __syncthreads();  // every warp is done with kc, vsm and its rows of sf from before
      load_c_slice(Cc, x.DHV, a0, ks, d0, kc);
      if (a0 == 0) {
#pragma unroll
        for (int i = 0; i < TL * TT / 4 / kOutThreads; ++i) {
          const int e = tid + i * kOutThreads, l = e / (TT / 4), j = e % (TT / 4) * 4;
          float4 vv = make_float4(0, 0, 0, 0);
          if (l < Lc)
            vv = load4(x.v.p + token_row(x, bh, c0 + l) * x.v.stride + h * x.DHV + d0 + j);
          store4(vsm + l * (TT + PAD_H) + j, vv);
        }
      }
      __syncthreads();
      mma_tile_row<FragA, FragB>(
          o, ks / 16, [&](int kk) { return qs + rw * 16 * ldq + a0 + kk * 16; }, ldq,
          [&](int kk, int f) { return kc + kk * 16 * (TT + PAD_H) + (ch * 2 + f) * 16; },
          TT + PAD_H);
    }
    mma_tile_row<FragA, FragB>(
        o, TL / 16, [&](int kk) { return sb + rw * 16 * (TL + PAD_H) + kk * 16; }, TL + PAD_H,
        [&](int kk, int f) { return vsm + kk * 16 * (TT + PAD_H) + (ch * 2 + f) * 16; },
        TT + PAD_H);
    for (int f = 0; f < 2; ++f) {
      wmma::store_matrix_sync(sf + rw * 16 * (TL + PAD_F) + (ch * 2 + f) * 16, o[f], TL + PAD_F,
                              wmma::mem_row_major);
    }
    __syncwarp();
    for (int r = 0; r < 16; ++r) {
      const int l = rw * 16 + r;
      if (l >= Lc) break;
      float* hr = x.h + token_row(x, bh, c0 + l) * x.h_stride + h * x.DHV + d0 + ch * 32;
      hr[lane] = sf[l * (TL + PAD_F) + ch * 32 + lane] / denom[l];
    }
  }
}

}  // namespace

size_t max_dynamic_smem() {
  static const size_t bytes = [] {
    int dev = 0, v = 0;
    XLSTM_CUDA_CHECK(cudaGetDevice(&dev));
    XLSTM_CUDA_CHECK(cudaDeviceGetAttribute(&v, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
    return static_cast<size_t>(v);
  }();
  return bytes;
}

bool tc_supported(const CellBatch& x, int64_t L) {
  // Head dims in whole tiles, 16-byte vector loads of q, k, v, the outputs' smem within the limit.
  return L >= 1 && L <= TL && x.DHQK % TT == 0 && x.DHV % TT == 0 && x.q.stride % 4 == 0 &&
         x.k.stride % 4 == 0 && x.v.stride % 4 == 0 && aligned16(x.q.p) && aligned16(x.k.p) &&
         aligned16(x.v.p) && OutLayout(x.DHQK).total <= max_dynamic_smem();
}

void launch_tc_states(const CellBatch& x, int64_t L, int64_t NC, CellStateDev st,
                      const ChunkScratch& sc, int64_t chunk_rows, Stream s) {
  const auto BH = static_cast<unsigned>(x.B * x.NH);
  const auto tiles_q = static_cast<unsigned>(x.DHQK / TT),
             tiles_v = static_cast<unsigned>(x.DHV / TT);
  tc_states_kernel<<<dim3(BH, tiles_q, tiles_v), kThreads, 0, s>>>(x, L, NC, st.C, st.n, sc,
                                                                   chunk_rows);
  XLSTM_CUDA_CHECK_LAUNCH();
}

void launch_tc(const CellBatch& x, int64_t L, int64_t NC, CellStateDev st, float eps,
               const ChunkScratch& sc, Stream s) {
  const auto BH = static_cast<unsigned>(x.B * x.NH);
  const auto tiles_v = static_cast<unsigned>(x.DHV / TT);
  launch_tc_states(x, L, NC, st, sc, x.DHQK, s);
  const size_t smem = OutLayout(x.DHQK).total;
  XLSTM_CUDA_CHECK(cudaFuncSetAttribute(
      tc_outputs_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
  const int tiles = tiles_v % 2 == 0 ? 2 : 1;  // column tiles per block: the scores are reused
  tc_outputs_kernel<<<dim3(BH, static_cast<unsigned>(NC), tiles_v / tiles), kOutThreads, smem, s>>>(
      x, L, NC, eps, tiles, sc);
  XLSTM_CUDA_CHECK_LAUNCH();
}

}  // namespace xlstm::cuda::chunkwise
