#pragma once
// Shared by the tensor-core chunkwise passes (mlstm_chunkwise_tc.cu, mlstm_chunkwise_tc_gemm.cu):
// tile sizes, WMMA fragment types and a warp's row of tile products.
#include <mma.h>

#include "backend/cuda/mlstm_chunkwise_impl.cuh"

namespace xlstm::cuda::chunkwise {

using namespace nvcuda;

inline constexpr int TL = 64;  // chunk rows, padded (L ≤ 64)
static_assert(TL == kMaxChunk);
inline constexpr int TT = 64;  // tile of C: rows (states pass) and columns (both passes)
inline constexpr int kWarps = 4, kThreads = kWarps * 32;
inline constexpr int PAD_H = 8;  // bf16 row padding: 16 bytes, keeps ldm % 8 == 0 and spreads banks
inline constexpr int PAD_F = 4;  // float row padding

using FragA = wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major>;
using FragAcol = wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::col_major>;
using FragB = wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::row_major>;
using FragBcol = wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major>;
using FragAcc = wmma::fragment<wmma::accumulator, 16, 16, 16, float>;

// acc[f] += Σ_kk A_kk · B_kk,f over kk < k16 for f < NF: a warp's row of output tiles. A's 16×16
// tile kk starts at a_tile(kk) (leading dimension lda), B's tile (kk, f) at b_tile(kk, f) (ldb);
// the fragment types give the layouts. kk outer, f inner: one A load per kk.
template <typename FragAT, typename FragBT, int NF, typename ATile, typename BTile>
__device__ __forceinline__ void mma_tile_row(FragAcc (&acc)[NF], int k16, ATile a_tile, int lda,
                                             BTile b_tile, int ldb) {
  for (int kk = 0; kk < k16; ++kk) {
    FragAT a;
    wmma::load_matrix_sync(a, a_tile(kk), lda);
    for (int f = 0; f < NF; ++f) {
      FragBT b;
      wmma::load_matrix_sync(b, b_tile(kk, f), ldb);
      wmma::mma_sync(acc[f], a, b, acc[f]);
    }
  }
}

// Row math of the outputs' scores, shared by both outputs paths. bs: the chunk's in-chunk cumsums,
// igs: its input gates, mcomb: each row's combined stabilizer, m_k: m before the chunk.
__device__ __forceinline__ double combined_stabilizer(int l, const double* bs, const float* igs,
                                                      double m_k) {
  double mx = bs[l] + m_k;
  for (int j = 0; j <= l; ++j) mx = fmax(mx, bs[l] - bs[j] + igs[j]);
  return mx;
}

// The warp's two 16×16 tiles of S (rows 16·rw, columns 32·ch + 16·f) into sf [TL][TL + PAD_F].
__device__ __forceinline__ void store_score_tiles(float* sf, FragAcc (&s)[2], int rw, int ch) {
  for (int f = 0; f < 2; ++f) {
    wmma::store_matrix_sync(sf + rw * 16 * (TL + PAD_F) + (ch * 2 + f) * 16, s[f], TL + PAD_F,
                            wmma::mem_row_major);
  }
}

// Score (l, j) decayed and causally masked (zero past the chunk's Lc rows) from the raw q·k in sf.
__device__ __forceinline__ float decayed_score(const float* sf, int l, int j, int64_t Lc,
                                               float scale, const double* bs, const float* igs,
                                               const double* mcomb) {
  if (l >= Lc || j > l) return 0.0f;
  return sf[l * (TL + PAD_F) + j] * scale *
         expf(static_cast<float>(bs[l] - bs[j] + igs[j] - mcomb[l]));
}

// The outputs' blocks: 8 warps.
inline constexpr int kOutWarps = 8, kOutThreads = kOutWarps * 32;
inline constexpr int kUnroll = 4;  // 16-byte loads in flight per thread

}  // namespace xlstm::cuda::chunkwise
