// Chunkwise form (spec §2.3): intra-chunk quadratic part plus inter-chunk state recurrence.
// Any S and any chunk size; a final partial chunk is handled by the same equations.
#include <algorithm>
#include <cmath>
#include <vector>

#include "ops/elementwise.h"
#include "ops/mlstm/mlstm_cell.h"

namespace xlstm {

void mlstm_chunkwise(const CellSequence& seq, CellState st, float eps, int64_t chunk) {
  const int64_t DHQK = seq.DHQK, DHV = seq.DHV;
  const float scale = 1.0f / std::sqrt(static_cast<float>(DHQK));
  // b in double: differences b_l − b_j of a long cumsum would otherwise lose digits (spec §2.2
  // "stablef").
  std::vector<double> b(chunk), m_comb(chunk);
  std::vector<float> den(chunk), Sm(chunk * chunk);

  for (int64_t c0 = 0; c0 < seq.S; c0 += chunk) {
    const int64_t L = std::min(chunk, seq.S - c0);
    const float m_k = *st.m;
    // b_l: inclusive cumsum of log forget gates inside the chunk.
    double acc = 0.0;
    for (int64_t l = 0; l < L; ++l) {
      acc += log_sigmoid(*seq.fgate.row(c0 + l));
      b[l] = acc;
    }
    // Intra-chunk weights S_lj = (q_l·k_j)·scale·exp(b_l − b_j + ĩ_j − m_comb_l), j ≤ l.
    for (int64_t l = 0; l < L; ++l) {
      double mx = b[l] + m_k;
      for (int64_t j = 0; j <= l; ++j) mx = std::max(mx, b[l] - b[j] + *seq.igate.row(c0 + j));
      m_comb[l] = mx;
      const float* q = seq.q.row(c0 + l);
      float row_sum = 0.0f;
      for (int64_t j = 0; j <= l; ++j) {
        const float* k = seq.k.row(c0 + j);
        float dot = 0.0f;
        for (int64_t a = 0; a < DHQK; ++a) dot += q[a] * k[a];
        const float s =
            dot * scale * std::exp(static_cast<float>(b[l] - b[j] + *seq.igate.row(c0 + j) - mx));
        Sm[l * chunk + j] = s;
        row_sum += s;
      }
      den[l] = row_sum;
    }
    // Outputs: num_l = q̄_lᵀ C_k + Σ_j S_lj v_j; den_l = q̄_l·n_k + Σ_j S_lj.
    for (int64_t l = 0; l < L; ++l) {
      float* h = seq.h + (c0 + l) * seq.h_stride;
      const float* q = seq.q.row(c0 + l);
      const float qs = scale * std::exp(static_cast<float>(b[l] + m_k - m_comb[l]));
      std::fill(h, h + DHV, 0.0f);
      float qn = 0.0f;
      for (int64_t a = 0; a < DHQK; ++a) {
        const float qa = q[a] * qs;
        const float* C_row = st.C + a * DHV;
        for (int64_t d = 0; d < DHV; ++d) h[d] += qa * C_row[d];
        qn += qa * st.n[a];
      }
      for (int64_t j = 0; j <= l; ++j) {
        const float s = Sm[l * chunk + j];
        const float* v = seq.v.row(c0 + j);
        for (int64_t d = 0; d < DHV; ++d) h[d] += s * v[d];
      }
      const float denom =
          std::max(std::fabs(qn + den[l]), std::exp(static_cast<float>(-m_comb[l]))) + eps;
      for (int64_t d = 0; d < DHV; ++d) h[d] /= denom;
    }
    // State after the chunk: m' = max(g + m_k, max_l a_l), a_l = g − b_l + ĩ_l.
    const double g = b[L - 1];
    double m_next = g + m_k;
    for (int64_t l = 0; l < L; ++l) m_next = std::max(m_next, g - b[l] + *seq.igate.row(c0 + l));
    const float gamma = std::exp(static_cast<float>(g + m_k - m_next));
    for (int64_t a = 0; a < DHQK; ++a) {
      float* C_row = st.C + a * DHV;
      for (int64_t d = 0; d < DHV; ++d) C_row[d] *= gamma;
      st.n[a] *= gamma;
    }
    for (int64_t l = 0; l < L; ++l) {
      const float w = std::exp(static_cast<float>(g - b[l] + *seq.igate.row(c0 + l) - m_next));
      const float* k = seq.k.row(c0 + l);
      const float* v = seq.v.row(c0 + l);
      for (int64_t a = 0; a < DHQK; ++a) {
        const float kw = k[a] * w;
        float* C_row = st.C + a * DHV;
        for (int64_t d = 0; d < DHV; ++d) C_row[d] += kw * v[d];
        st.n[a] += kw;
      }
    }
    *st.m = static_cast<float>(m_next);
  }
}

}  // namespace xlstm
