// The tensor-core states pass for wide heads (both head dims multiples of 128; the batched-GEMM
// outputs path, mlstm_chunkwise_tc_gemm.cu), in two launches:
//   prep:    per (b, head, chunk, 64-column slice): k ⊙ w as bf16 by chunk, v as bf16 below each
//            chunk's C (the GEMM's [C; v]), the chunk's Σ k ⊙ w in float32 for n;
//   states:  per (b, head, 128×128 tile of C): walks the chunks with the tile in registers (raw
//            mma fragments), the chunks' bf16 k ⊙ w and v streamed through a 3-stage cp.async
//            pipeline; saves C (bf16) before each chunk, then C ← γ·C + (K ⊙ w)ᵀ V, n alike.
// The 64×64-tile pass (mlstm_chunkwise_tc.cu) reads float32 k and v in every tile of the other
// dim and converts them there: at 1024-wide heads each is read 16 times per chunk. Here the
// conversion happens once and a tile is 4× the area per byte read. Same equations and roundings
// (k ⊙ w and v to bf16 for the products; n from the float32 products), except that n adds each
// chunk's sum as one term (n·γ + Σ_l k_l ⊙ w_l) where the 64×64 pass adds the rows one by one.
#include "backend/cuda/mlstm_chunkwise_tc.cuh"
#include "backend/cuda/mma_sm80.cuh"

namespace xlstm::cuda::chunkwise {

namespace {

// Prep. Block = 4 warps over one chunk and columns [64y, 64y + 64) of k (when < DHQK) and of v
// (when < DHV). Also the chunk's column sums Σ_l k_l ⊙ w_l in float32 into nbuf, which the states
// launch turns into n before each chunk.
__global__ void __launch_bounds__(kThreads)
    wide_prep_kernel(CellBatch x, int64_t L, int64_t NC, ChunkScratch sc, int64_t chunk_rows) {
  __shared__ float ft[TL][TT + PAD_F];  // k_l ⊙ w_l in float32
  __shared__ float w[TL];
  const int64_t bh = blockIdx.x, h = bh % x.NH, c = blockIdx.y;
  const int col0 = static_cast<int>(blockIdx.z) * TT, tid = threadIdx.x;
  const bool has_k = col0 < x.DHQK, has_v = col0 < x.DHV;
  const int64_t c0 = c * L, Lc = min(L, x.S - c0);
  if (tid < TL) {
    float wl = 0.0f;
    if (tid < Lc) {
      const double* bcum = sc.bcum + bh * x.S;
      const double g = bcum[c0 + Lc - 1], m_next = sc.mnext[bh * (NC + 1) + c + 1];
      const float ig = x.igate.p[token_row(x, bh, c0 + tid) * x.igate.stride + h];
      wl = expf(static_cast<float>(g - bcum[c0 + tid] + ig - m_next));
    }
    w[tid] = wl;
  }
  __syncthreads();
  bf16* kw = sc.kw16 + (bh * NC + c) * TL * x.DHQK + col0;
  bf16* vc = sc.C16 + ((bh * NC + c) * chunk_rows + x.DHQK) * x.DHV + col0;
#pragma unroll
  for (int i = 0; i < TL * TT / 4 / kThreads; ++i) {
    const int e = tid + i * kThreads, l = e / (TT / 4), j = e % (TT / 4) * 4;
    const int64_t row = token_row(x, bh, c0 + (l < Lc ? l : 0));
    if (has_k) {
      float4 kv = make_float4(0, 0, 0, 0);
      if (l < Lc) kv = load4(x.k.p + row * x.k.stride + h * x.DHQK + col0 + j);
      const float wl = w[l];
      kv.x *= wl, kv.y *= wl, kv.z *= wl, kv.w *= wl;
      ft[l][j] = kv.x, ft[l][j + 1] = kv.y, ft[l][j + 2] = kv.z, ft[l][j + 3] = kv.w;
      store4(kw + l * x.DHQK + j, kv);
    }
    if (has_v) {
      float4 vv = make_float4(0, 0, 0, 0);
      if (l < Lc) vv = load4(x.v.p + row * x.v.stride + h * x.DHV + col0 + j);
      store4(vc + l * x.DHV + j, vv);
    }
  }
  if (!has_k) return;
  __syncthreads();
  if (tid < TT) {
    float sum = 0.0f;
    for (int l = 0; l < Lc; ++l) sum += ft[l][tid];
    sc.nbuf[(bh * NC + c) * x.DHQK + col0 + tid] = sum;
  }
}

constexpr int WT = 128;  // tile of C, rows and columns
constexpr int kWideWarps = 8, kWideThreads = kWideWarps * 32;
constexpr int kStages = 3;
constexpr int LDS = WT + PAD_H;  // bf16 per smem row: 272 bytes, ldmatrix rows spread the banks
constexpr size_t kStageElems = 2 * TL * LDS;  // k ⊙ w [TL][LDS], then v [TL][LDS]
constexpr size_t kWideSmem = kStages * kStageElems * sizeof(bf16);

// One chunk's k ⊙ w (rows r0.. of C) and v (columns d0..) slices into a stage, 16-byte copies:
// thread i copies columns [8·(i % 16), +8) of rows i / 16 + 16·j (j < 4) of each. kw and vc point
// at the thread's first piece of the chunk.
__device__ __forceinline__ void load_stage(const bf16* kw, const bf16* vc, int64_t DHQK,
                                           int64_t DHV, bf16* stage) {
  constexpr int kRowsPerPass = kWideThreads / (WT / 8);
  bf16* dst = stage + threadIdx.x / (WT / 8) * LDS + threadIdx.x % (WT / 8) * 8;
#pragma unroll
  for (int j = 0; j < TL / kRowsPerPass; ++j) {
    cp_async16(dst + j * kRowsPerPass * LDS, kw + j * kRowsPerPass * DHQK);
    cp_async16(dst + TL * LDS + j * kRowsPerPass * LDS, vc + j * kRowsPerPass * DHV);
  }
}

// States. Warp w holds rows [64·(w / 4), +64) and columns [32·(w % 4), +32) of the tile as
// 4 × 4 m16n8 accumulators, for the whole walk. The saved C goes out through the stage freed by
// the previous chunk (16-byte stores of whole rows). The blocks of the first column tile also
// run n: nbuf holds each chunk's Σ k ⊙ w (prep) and receives n before the chunk. Two blocks/SM.
__global__ void __launch_bounds__(kWideThreads, 2)
    wide_states_kernel(CellBatch x, int64_t L, int64_t NC, CellStateDev st, ChunkScratch sc,
                       int64_t chunk_rows) {
  extern __shared__ __align__(128) unsigned char smem[];
  auto* stages = reinterpret_cast<bf16*>(smem);
  const int64_t bh = blockIdx.x;
  const int r0 = static_cast<int>(blockIdx.y) * WT, d0 = static_cast<int>(blockIdx.z) * WT;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32, g = lane / 4, t = lane % 4;
  const int wr = warp / 4 * 64, wc = warp % 4 * 32;  // the warp's rows and columns in the tile
  const int64_t DHQK = x.DHQK, DHV = x.DHV;
  const int lrow = tid / (WT / 8), lcol = tid % (WT / 8) * 8;  // load_stage's first piece
  const bf16* kw = sc.kw16 + (bh * NC * TL + lrow) * DHQK + r0 + lcol;
  const bf16* vc = sc.C16 + (bh * NC * chunk_rows + DHQK + lrow) * DHV + d0 + lcol;
  auto stage_of = [&](int64_t c) { return stages + (c % kStages) * kStageElems; };
  for (int c = 0; c < kStages - 1; ++c) {
    if (c < NC) load_stage(kw + c * TL * DHQK, vc + c * chunk_rows * DHV, DHQK, DHV, stage_of(c));
    cp_async_commit();
  }
  float acc[4][4][4];
  float* Cb = st.C + bh * DHQK * DHV + (r0 + wr + g) * DHV + d0 + wc + 2 * t;  // thread's first
#pragma unroll
  for (int mi = 0; mi < 4; ++mi) {
#pragma unroll
    for (int ni = 0; ni < 4; ++ni) {
      const float2 lo = *reinterpret_cast<const float2*>(Cb + mi * 16 * DHV + ni * 8);
      const float2 hi = *reinterpret_cast<const float2*>(Cb + (mi * 16 + 8) * DHV + ni * 8);
      acc[mi][ni][0] = lo.x, acc[mi][ni][1] = lo.y, acc[mi][ni][2] = hi.x, acc[mi][ni][3] = hi.y;
    }
  }
  const bool n_owner = blockIdx.z == 0 && tid < WT;
  float nreg = n_owner ? st.n[bh * DHQK + r0 + tid] : 0.0f;
  const double* bcum = sc.bcum + bh * x.S;
  const double* mn = sc.mnext + bh * (NC + 1);
  for (int64_t c = 0; c < NC; ++c) {
    const int64_t c0 = c * L, Lc = min(L, x.S - c0);
    const double gc = bcum[c0 + Lc - 1];
    const double m_c = static_cast<float>(mn[c]), m_next = mn[c + 1];
    const float gamma = expf(static_cast<float>(gc + m_c - m_next));
    cp_async_wait<kStages - 2>();
    __syncthreads();  // chunk c's stage is in; every thread is done with the free stage
    // C before the chunk, rounded to bf16: fragments into the free stage, then whole rows out.
    bf16* stg = stage_of(c + kStages - 1);
#pragma unroll
    for (int mi = 0; mi < 4; ++mi) {
#pragma unroll
      for (int ni = 0; ni < 4; ++ni) {
        bf16* p = stg + (wr + mi * 16 + g) * LDS + wc + ni * 8 + 2 * t;
        *reinterpret_cast<uint32_t*>(p) = pack_bf16(acc[mi][ni][0], acc[mi][ni][1]);
        *reinterpret_cast<uint32_t*>(p + 8 * LDS) = pack_bf16(acc[mi][ni][2], acc[mi][ni][3]);
      }
    }
    if (n_owner) {
      float* nb = sc.nbuf + (bh * NC + c) * DHQK + r0 + tid;
      const float chunk_sum = *nb;
      *nb = nreg;
      nreg = nreg * gamma + chunk_sum;
    }
    __syncthreads();
    bf16* dst = sc.C16 + ((bh * NC + c) * chunk_rows + r0) * DHV + d0;
#pragma unroll
    for (int i = 0; i < WT * WT / 8 / kWideThreads; ++i) {
      const int e = tid + i * kWideThreads, r = e / (WT / 8), j = e % (WT / 8) * 8;
      *reinterpret_cast<uint4*>(dst + r * DHV + j) =
          *reinterpret_cast<const uint4*>(stg + r * LDS + j);
    }
    __syncthreads();  // the free stage is read out
    const int64_t next = c + kStages - 1;
    if (next < NC) load_stage(kw + next * TL * DHQK, vc + next * chunk_rows * DHV, DHQK, DHV, stg);
    cp_async_commit();
#pragma unroll
    for (int mi = 0; mi < 4; ++mi)
#pragma unroll
      for (int ni = 0; ni < 4; ++ni)
#pragma unroll
        for (int e = 0; e < 4; ++e) acc[mi][ni][e] *= gamma;
    const bf16* kws = stage_of(c);
    const bf16* vs = kws + TL * LDS;
    const int ksteps = static_cast<int>((Lc + 15) / 16);  // rows past the chunk are zero
    for (int kk = 0; kk < ksteps; ++kk) {
      // A = (K ⊙ w)ᵀ: stored [l][row of C], so transposed loads; B = V stored [l][column].
      uint32_t b[4][2];
#pragma unroll
      for (int np = 0; np < 2; ++np) {
        uint32_t r[4];
        ldmatrix_x4_trans(
            r, vs + (kk * 16 + lane / 8 % 2 * 8 + lane % 8) * LDS + wc + np * 16 + lane / 16 * 8);
        b[2 * np][0] = r[0], b[2 * np][1] = r[1], b[2 * np + 1][0] = r[2], b[2 * np + 1][1] = r[3];
      }
#pragma unroll
      for (int mi = 0; mi < 4; ++mi) {
        uint32_t a[4];
        ldmatrix_x4_trans(
            a, kws + (kk * 16 + lane / 16 * 8 + lane % 8) * LDS + wr + mi * 16 + lane / 8 % 2 * 8);
#pragma unroll
        for (int ni = 0; ni < 4; ++ni) mma_bf16(acc[mi][ni], a, b[ni][0], b[ni][1]);
      }
    }
  }
#pragma unroll
  for (int mi = 0; mi < 4; ++mi) {
#pragma unroll
    for (int ni = 0; ni < 4; ++ni) {
      *reinterpret_cast<float2*>(Cb + mi * 16 * DHV + ni * 8) =
          make_float2(acc[mi][ni][0], acc[mi][ni][1]);
      *reinterpret_cast<float2*>(Cb + (mi * 16 + 8) * DHV + ni * 8) =
          make_float2(acc[mi][ni][2], acc[mi][ni][3]);
    }
  }
  if (n_owner) st.n[bh * DHQK + r0 + tid] = nreg;
}

}  // namespace

bool wide_states_supported(const CellBatch& x) {
  // 102 KB of shared memory per block: sm_80 and sm_90, not sm_86/89/120.
  return x.DHQK % WT == 0 && x.DHV % WT == 0 && kWideSmem <= max_dynamic_smem();
}

void launch_wide_states(const CellBatch& x, int64_t L, int64_t NC, CellStateDev st,
                        const ChunkScratch& sc, int64_t chunk_rows, Stream s) {
  const auto BH = static_cast<unsigned>(x.B * x.NH);
  const int64_t slices = (x.DHQK > x.DHV ? x.DHQK : x.DHV) / TT;
  const dim3 prep_grid(BH, static_cast<unsigned>(NC), static_cast<unsigned>(slices));
  wide_prep_kernel<<<prep_grid, kThreads, 0, s>>>(x, L, NC, sc, chunk_rows);
  XLSTM_CUDA_CHECK_LAUNCH();
  XLSTM_CUDA_CHECK(cudaFuncSetAttribute(wide_states_kernel,
                                        cudaFuncAttributeMaxDynamicSharedMemorySize,
                                        static_cast<int>(kWideSmem)));
  const dim3 grid(BH, static_cast<unsigned>(x.DHQK / WT), static_cast<unsigned>(x.DHV / WT));
  wide_states_kernel<<<grid, kWideThreads, kWideSmem, s>>>(x, L, NC, st, sc, chunk_rows);
  XLSTM_CUDA_CHECK_LAUNCH();
}

}  // namespace xlstm::cuda::chunkwise
