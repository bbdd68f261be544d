// Quadratic (parallel) form, written directly from the unrolled recurrence in double precision:
//   m_t = max(cum_t + m0, max_{s≤t} cum_t − cum_s + ĩ_s),  cum_t = Σ_{l≤t} logσ(f̃_l).
// It includes the initial-state term, so it equals the recurrent form exactly in math and serves
// as the reference the other two are tested against.
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/cpu_dispatch.h"
#include "ops/mlstm/mlstm_cell.h"

namespace xlstm {

namespace {
double log_sigmoid_d(double x) {
  return std::min(x, 0.0) - std::log1p(std::exp(-std::fabs(x)));
}
}  // namespace

XLSTM_CPU_KERNEL void mlstm_parallel(const CellSequence& seq, CellState st, float eps) {
  const int64_t S = seq.S, DHQK = seq.DHQK, DHV = seq.DHV;
  if (S == 0) return;
  const double scale = 1.0 / std::sqrt(static_cast<double>(DHQK));
  const double m0 = *st.m;
  std::vector<double> cum(S), ig(S), w(S), num(DHV), qC0(DHV);
  double acc = 0.0;
  for (int64_t t = 0; t < S; ++t) {
    acc += log_sigmoid_d(*seq.fgate.row(t));
    cum[t] = acc;
    ig[t] = *seq.igate.row(t);
  }
  for (int64_t t = 0; t < S; ++t) {
    double m_t = cum[t] + m0;
    for (int64_t s = 0; s <= t; ++s) m_t = std::max(m_t, cum[t] - cum[s] + ig[s]);
    const float* q = seq.q.row(t);
    // Initial-state contribution: exp(cum_t + m0 − m_t) · q̂ᵀ[C0 | n0].
    const double w0 = std::exp(cum[t] + m0 - m_t);
    std::fill(num.begin(), num.end(), 0.0);
    double den = 0.0;
    for (int64_t a = 0; a < DHQK; ++a) {
      const double qa = q[a] * scale * w0;
      for (int64_t d = 0; d < DHV; ++d) num[d] += qa * st.C[a * DHV + d];
      den += qa * st.n[a];
    }
    for (int64_t s = 0; s <= t; ++s) {
      const float* k = seq.k.row(s);
      const float* v = seq.v.row(s);
      double dot = 0.0;
      for (int64_t a = 0; a < DHQK; ++a) dot += static_cast<double>(q[a]) * k[a];
      const double c = dot * scale * std::exp(cum[t] - cum[s] + ig[s] - m_t);
      for (int64_t d = 0; d < DHV; ++d) num[d] += c * v[d];
      den += c;
    }
    const double denom = std::max(std::fabs(den), std::exp(-m_t)) + eps;
    float* h = seq.h + t * seq.h_stride;
    for (int64_t d = 0; d < DHV; ++d) h[d] = static_cast<float>(num[d] / denom);
  }
  // Final state at t = S−1.
  double m_S = cum[S - 1] + m0;
  for (int64_t s = 0; s < S; ++s) m_S = std::max(m_S, cum[S - 1] - cum[s] + ig[s]);
  const double w0 = std::exp(cum[S - 1] + m0 - m_S);
  for (int64_t s = 0; s < S; ++s) w[s] = std::exp(cum[S - 1] - cum[s] + ig[s] - m_S);
  for (int64_t a = 0; a < DHQK; ++a) {
    double n_a = w0 * st.n[a];
    for (int64_t s = 0; s < S; ++s) n_a += w[s] * seq.k.row(s)[a];
    st.n[a] = static_cast<float>(n_a);
    for (int64_t d = 0; d < DHV; ++d) {
      double c = w0 * st.C[a * DHV + d];
      for (int64_t s = 0; s < S; ++s) c += w[s] * seq.k.row(s)[a] * seq.v.row(s)[d];
      st.C[a * DHV + d] = static_cast<float>(c);
    }
  }
  *st.m = static_cast<float>(m_S);
}

}  // namespace xlstm
