// The tensor-core chunkwise outputs for wide heads as one batched GEMM (ops.h: mlstm_chunkwise with
// a Gemm). Per chunk, h = (q̄ C + S̄ v) / denominator is one product of a row-scaled left operand
// and a stacked right one:
//   A = [q̄ | S̄] / denominator   (bf16 [TL, DHQK + TL], this file's first kernel)
//   B = [C; v]                   (bf16 [DHQK + TL, DHV], written by the states pass)
// so that cuBLASLt runs all chunks of the call as one strided batch at its own GEMM speed, where
// the own outputs kernel (mlstm_chunkwise_tc.cu) holds q whole in shared memory and streams C in
// slices, one block per SM at 1024-wide heads. The result lands by chunk in sc.hc and is
// scattered to h's rows. Same equations, roundings and float32 gate math as the outputs pass;
// only the division by the denominator moves before the bf16 rounding of the products' inputs.
#include <algorithm>

#include "backend/cuda/mlstm_chunkwise_tc.cuh"

namespace xlstm::cuda::chunkwise {

namespace {

// Slice of the head dim streamed per step of S = Q Kᵀ: 128, or 64 for dims not a multiple of it.
__host__ __device__ inline int lhs_slice(int64_t Dq) {
  return Dq % 128 == 0 ? 128 : 64;
}

// Dynamic shared memory of the left-operand kernel, in the order of the pointers below.
struct LhsLayout {
  size_t qs, kc, sf, rows, total;
  __host__ __device__ explicit LhsLayout(int64_t Dq) {
    const auto ld = static_cast<size_t>(lhs_slice(Dq) + PAD_H);
    qs = 0;
    kc = qs + TL * ld * 2;
    sf = kc + TL * ld * 2;
    rows = sf + TL * (TL + PAD_F) * 4;
    // bs, mcomb (double); igs (float); n [Dq]; q·n partials [TL][Dq / slice] (float)
    total = rows + TL * (8 + 8 + 4) + static_cast<size_t>(Dq) * 4 +
            TL * static_cast<size_t>(Dq / lhs_slice(Dq)) * 4;
  }
};

// Per (b, head, chunk), 8 warps. q and k stream through shared memory in slices (bf16 for the
// products; q·n in float32 from the loaded values, one partial per row and slice, summed in a fixed
// order); S = Q Kᵀ as in the outputs pass (warp w: rows 16·(w % 4), columns 32·(w / 4)); then per
// row (warp w: rows [8w, 8w + 8)) the decayed, masked scores, their sum, q̄'s scale and the
// denominator; A's row l is [q_l · scale_l | S̄_l] / denominator_l, zero past the chunk.
__global__ void __launch_bounds__(kOutThreads)
    tc_lhs_kernel(CellBatch x, int64_t L, int64_t NC, float eps, ChunkScratch sc) {
  extern __shared__ __align__(128) unsigned char smem[];
  const int Dq = static_cast<int>(x.DHQK), ks = lhs_slice(Dq), ld = ks + PAD_H, slices = Dq / ks;
  const LhsLayout lay(Dq);
  auto* qs = reinterpret_cast<bf16*>(smem + lay.qs);   // q slice [TL][ld]
  auto* kc = reinterpret_cast<bf16*>(smem + lay.kc);   // k slice [TL][ld]
  auto* sf = reinterpret_cast<float*>(smem + lay.sf);  // q·k, then S̄ [TL][TL + PAD_F]
  auto* bs = reinterpret_cast<double*>(smem + lay.rows);
  double* mcomb = bs + TL;
  auto* igs = reinterpret_cast<float*>(mcomb + TL);
  float* nks = igs + TL;      // n before the chunk [Dq]
  float* qn_part = nks + Dq;  // [TL][slices]
  const int64_t bh = blockIdx.x, h = bh % x.NH, c = blockIdx.y;
  const int64_t c0 = c * L, Lc = min(L, x.S - c0);
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int rw = warp % 4, ch = warp / 4;
  const double m_k = static_cast<float>(sc.mnext[bh * (NC + 1) + c]);
  const float scale = 1.0f / sqrtf(static_cast<float>(Dq));
  if (tid < Lc) {
    bs[tid] = sc.bcum[bh * x.S + c0 + tid];
    igs[tid] = x.igate.p[token_row(x, bh, c0 + tid) * x.igate.stride + h];
  }
  for (int a = tid; a < Dq; a += kOutThreads) nks[a] = sc.nbuf[(bh * NC + c) * x.DHQK + a];
  __syncthreads();
  if (tid < Lc) {
    mcomb[tid] = combined_stabilizer(tid, bs, igs, m_k);
  }
  FragAcc s[2];
  for (auto& f : s) wmma::fill_fragment(f, 0.0f);
  // A row's slice is ks / 4 consecutive threads (16 or 32: within one warp).
  const int row_lanes = ks / 4, pieces = TL * row_lanes;
  for (int sl = 0; sl < slices; ++sl) {
    const int a0 = sl * ks;
    __syncthreads();  // the previous slice's products are done with qs and kc
    for (int e0 = tid; e0 < pieces; e0 += kUnroll * kOutThreads) {
      float4 qv[kUnroll], kv[kUnroll];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int e = e0 + u * kOutThreads, l = e / row_lanes, a = e % row_lanes * 4;
        qv[u] = kv[u] = make_float4(0, 0, 0, 0);
        if (e < pieces && l < Lc) {
          const int64_t row = token_row(x, bh, c0 + l);
          qv[u] = load4(x.q.p + row * x.q.stride + h * Dq + a0 + a);
          kv[u] = load4(x.k.p + row * x.k.stride + h * Dq + a0 + a);
        }
      }
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int e = e0 + u * kOutThreads, l = e / row_lanes, a = e % row_lanes * 4;
        float p = 0.0f;
        if (e < pieces) {
          store4(qs + l * ld + a, qv[u]);
          store4(kc + l * ld + a, kv[u]);
          const float* nv = nks + a0 + a;
          p = qv[u].x * nv[0] + qv[u].y * nv[1] + qv[u].z * nv[2] + qv[u].w * nv[3];
        }
        for (int o = row_lanes / 2; o > 0; o >>= 1) p += __shfl_xor_sync(0xffffffffu, p, o);
        if (e < pieces && lane % row_lanes == 0) qn_part[l * slices + sl] = p;
      }
    }
    __syncthreads();
    mma_tile_row<FragA, FragBcol>(
        s, ks / 16, [&](int kk) { return qs + rw * 16 * ld + kk * 16; }, ld,
        [&](int kk, int f) { return kc + (ch * 2 + f) * 16 * ld + kk * 16; }, ld);
  }
  store_score_tiles(sf, s, rw, ch);
  __syncthreads();  // mcomb, the q·n partials and every warp's S rows are in place
  const int64_t K = Dq + TL;
  bf16* A = sc.lhs + (bh * NC + c) * TL * K;
  for (int r = 0; r < TL / kOutWarps; ++r) {
    const int l = warp * (TL / kOutWarps) + r;
    // S̄ in place (each lane its own columns), and its row sum.
    float sum = 0.0f;
    for (int j = lane; j < TL; j += 32) {
      const float sv = decayed_score(sf, l, j, Lc, scale, bs, igs, mcomb);
      sf[l * (TL + PAD_F) + j] = sv;
      sum += sv;
    }
    sum = warp_sum(sum);
    // Every lane computes the row's scale and denominator alike (same values, same order).
    float qsc = 0.0f, inv = 0.0f;
    if (l < Lc) {
      float qn = 0.0f;
      for (int p = 0; p < slices; ++p) qn += qn_part[l * slices + p];
      qsc = scale * expf(static_cast<float>(bs[l] + m_k - mcomb[l]));
      inv = 1.0f / (fmaxf(fabsf(qsc * qn + sum), expf(static_cast<float>(-mcomb[l]))) + eps);
    }
    bf16* Ar = A + l * K;
    for (int j = lane; j < TL; j += 32)
      Ar[Dq + j] = __float2bfloat16(sf[l * (TL + PAD_F) + j] * inv);
    const float qf = qsc * inv;
    const float* qrow = l < Lc ? x.q.p + token_row(x, bh, c0 + l) * x.q.stride + h * Dq : nullptr;
    for (int a = lane * 4; a < Dq; a += 128) {
      float4 qv = make_float4(0, 0, 0, 0);
      if (qrow != nullptr) {
        qv = load4(qrow + a);
        qv.x *= qf, qv.y *= qf, qv.z *= qf, qv.w *= qf;
      }
      store4(Ar + a, qv);
    }
  }
}

// h rows of the chunk (l < Lc) from the GEMM's result by chunk: one block per padded row.
__global__ void tc_scatter_kernel(CellBatch x, int64_t L, int64_t NC, const float* hc) {
  const int64_t r = blockIdx.x, l = r % TL, bhc = r / TL, c = bhc % NC, bh = bhc / NC;
  const int64_t c0 = c * L;
  if (l >= min(L, x.S - c0)) return;
  const float* src = hc + r * x.DHV;
  float* dst = x.h + token_row(x, bh, c0 + l) * x.h_stride + (bh % x.NH) * x.DHV;
  for (int64_t d = threadIdx.x; d < x.DHV; d += blockDim.x) dst[d] = src[d];
}

}  // namespace

void launch_tc_gemm_outputs(const CellBatch& x, int64_t L, int64_t NC, float eps,
                            const ChunkScratch& sc, Gemm& gemm, Stream s) {
  const int64_t BH = x.B * x.NH;
  const size_t smem = LhsLayout(x.DHQK).total;
  XLSTM_CUDA_CHECK(cudaFuncSetAttribute(tc_lhs_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                        static_cast<int>(smem)));
  tc_lhs_kernel<<<dim3(static_cast<unsigned>(BH), static_cast<unsigned>(NC)), kOutThreads, smem,
                  s>>>(x, L, NC, eps, sc);
  XLSTM_CUDA_CHECK_LAUNCH();
  gemm.batched_bf16(sc.lhs, sc.C16, sc.hc, BH * NC, TL, x.DHQK + TL, x.DHV, s);
  const int threads = static_cast<int>(std::min<int64_t>(256, (x.DHV + 31) / 32 * 32));
  tc_scatter_kernel<<<static_cast<unsigned>(BH * NC * TL), threads, 0, s>>>(x, L, NC, sc.hc);
  XLSTM_CUDA_CHECK_LAUNCH();
}

}  // namespace xlstm::cuda::chunkwise
