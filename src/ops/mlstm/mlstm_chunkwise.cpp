// Chunkwise form (spec §2.3): intra-chunk quadratic part plus inter-chunk state recurrence.
// Any S and any chunk size; a final partial chunk is handled by the same equations.
// The four products per chunk go through BLAS (single-threaded inside the caller's parallel loop
// over batch × heads): QKᵀ [L, L], S·V [L, DHV], Q̄·C [L, DHV], K̄ᵀ·V [DHQK, DHV].
#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/cpu_dispatch.h"
#include "ops/elementwise.h"
#include "ops/mlstm/mlstm_cell.h"

namespace xlstm {

namespace {
blasint bi(int64_t v) {
  return static_cast<blasint>(v);
}
}  // namespace

XLSTM_CPU_KERNEL void mlstm_chunkwise(const CellSequence& seq, CellState st, float eps,
                                      int64_t chunk) {
  const int64_t DHQK = seq.DHQK, DHV = seq.DHV;
  const float scale = 1.0f / std::sqrt(static_cast<float>(DHQK));
  chunk = std::min(chunk, std::max<int64_t>(seq.S, 1));
  // b in double: differences b_l − b_j of a long cumsum would otherwise lose digits (spec §2.2
  // "stablef").
  std::vector<double> b(chunk), m_comb(chunk);
  std::vector<float> Sm(chunk * chunk), scaled(chunk * DHQK), qn(chunk);

  for (int64_t c0 = 0; c0 < seq.S; c0 += chunk) {
    const int64_t L = std::min(chunk, seq.S - c0);
    const float m_k = *st.m;
    const float* Q = seq.q.row(c0);
    const float* K = seq.k.row(c0);
    const float* V = seq.v.row(c0);
    float* H = seq.h + c0 * seq.h_stride;
    auto igate = [&](int64_t l) { return static_cast<double>(*seq.igate.row(c0 + l)); };
    double acc = 0.0;  // b_l: inclusive cumsum of log forget gates inside the chunk
    for (int64_t l = 0; l < L; ++l) {
      acc += log_sigmoid(*seq.fgate.row(c0 + l));
      b[l] = acc;
    }

    // Sm = Q Kᵀ, then S_lj = Sm_lj · scale · exp(b_l − b_j + ĩ_j − m_comb_l) for j ≤ l, else 0.
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, bi(L), bi(L), bi(DHQK), 1.0f, Q,
                bi(seq.q.stride), K, bi(seq.k.stride), 0.0f, Sm.data(), bi(chunk));
    for (int64_t l = 0; l < L; ++l) {
      double mx = b[l] + m_k;
      for (int64_t j = 0; j <= l; ++j) mx = std::max(mx, b[l] - b[j] + igate(j));
      m_comb[l] = mx;
      float* row = Sm.data() + l * chunk;
      for (int64_t j = 0; j <= l; ++j)
        row[j] *= scale * std::exp(static_cast<float>(b[l] - b[j] + igate(j) - mx));
      std::fill(row + l + 1, row + L, 0.0f);
    }
    // Q̄_l = q_l · scale · exp(b_l + m_k − m_comb_l): the inter-chunk read of the previous state.
    for (int64_t l = 0; l < L; ++l) {
      const float qs = scale * std::exp(static_cast<float>(b[l] + m_k - m_comb[l]));
      const float* q = seq.q.row(c0 + l);
      float* out = scaled.data() + l * DHQK;
      for (int64_t a = 0; a < DHQK; ++a) out[a] = q[a] * qs;
    }
    // H = S·V + Q̄·C;  qn = Q̄·n.
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, bi(L), bi(DHV), bi(L), 1.0f, Sm.data(),
                bi(chunk), V, bi(seq.v.stride), 0.0f, H, bi(seq.h_stride));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, bi(L), bi(DHV), bi(DHQK), 1.0f,
                scaled.data(), bi(DHQK), st.C, bi(DHV), 1.0f, H, bi(seq.h_stride));
    cblas_sgemv(CblasRowMajor, CblasNoTrans, bi(L), bi(DHQK), 1.0f, scaled.data(), bi(DHQK), st.n,
                1, 0.0f, qn.data(), 1);
    for (int64_t l = 0; l < L; ++l) {
      float row_sum = 0.0f;
      for (int64_t j = 0; j <= l; ++j) row_sum += Sm[l * chunk + j];
      const float denom =
          std::max(std::fabs(qn[l] + row_sum), std::exp(static_cast<float>(-m_comb[l]))) + eps;
      float* h = H + l * seq.h_stride;
      for (int64_t d = 0; d < DHV; ++d) h[d] /= denom;
    }

    // State after the chunk: m' = max(g + m_k, max_l a_l), a_l = g − b_l + ĩ_l;
    // C' = γ·C + K̄ᵀV, n' = γ·n + Σ_l K̄_l with K̄_l = k_l · exp(a_l − m').
    const double g = b[L - 1];
    double m_next = g + m_k;
    for (int64_t l = 0; l < L; ++l) m_next = std::max(m_next, g - b[l] + igate(l));
    const float gamma = std::exp(static_cast<float>(g + m_k - m_next));
    for (int64_t a = 0; a < DHQK; ++a) st.n[a] *= gamma;
    for (int64_t l = 0; l < L; ++l) {
      const float w = std::exp(static_cast<float>(g - b[l] + igate(l) - m_next));
      const float* k = seq.k.row(c0 + l);
      float* out = scaled.data() + l * DHQK;
      for (int64_t a = 0; a < DHQK; ++a) {
        out[a] = k[a] * w;
        st.n[a] += out[a];
      }
    }
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, bi(DHQK), bi(DHV), bi(L), 1.0f,
                scaled.data(), bi(DHQK), V, bi(seq.v.stride), gamma, st.C, bi(DHV));
    *st.m = static_cast<float>(m_next);
  }
}

}  // namespace xlstm
