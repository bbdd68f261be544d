#pragma once
// How far a float32 evaluation of one mLSTM cell may be from the exact (float64) one, derived from
// the inputs instead of from one machine's rounding.
//
// Every output is a weighted sum over time steps s ≤ t:
//   h_t = Σ_s w_ts (q̂_t·k_s) v_s / den_t,   den_t = max(|Σ_s w_ts (q̂_t·k_s)|, e^{−m_t}) + eps,
//   w_ts = exp(F_t − F_s + ĩ_s − m_t),       F_t = Σ_{r≤t} logσ(f̃_r)
// (plus the initial state's term). To first order in the unit roundoff u, any float32 evaluation
// (step, chunkwise, any association order, FMA or not, AVX2 or AVX-512) perturbs each term by a
// relative amount of at most u·ρ_ts, where ρ_ts counts the roundings the term goes through: the
// q·k dot product (DHQK), the t − s multiply-adds of a recurrence, and the exponent's argument,
// whose own rounding error is u times the magnitudes summed into it (Σ|logσ f̃| over s..t, |ĩ_s|,
// |m_t|, |m_s|). Summing |term|·ρ (not the signed terms) gives an error scale that stays large
// where the output cancels, which is exactly where float32 is ill-conditioned. Tests then require
// |fp32 − fp64| ≤ K·scale with a small constant K: the scale is already a worst case.
#include <algorithm>
#include <cmath>
#include <vector>

namespace xlstm::testing {

struct CellInputs {
  int64_t S, DHQK, DHV;
  const float *q, *k, *v, *i, *f;  // [S, DHQK], [S, DHQK], [S, DHV], [S], [S]
  const float *C0, *n0;            // [DHQK, DHV], [DHQK]
  float m0;
  float eps;
};

struct CellErrorScale {
  std::vector<double> h;  // [S, DHV]
  std::vector<double> C;  // [DHQK, DHV] final state
  std::vector<double> n;  // [DHQK]
  double m = 0;
};

inline CellErrorScale cell_error_scale(const CellInputs& c) {
  const double u = std::ldexp(1.0, -24);
  const int64_t S = c.S, DK = c.DHQK, DV = c.DHV;
  const double scale = 1.0 / std::sqrt(static_cast<double>(DK));
  auto logsig = [](double x) { return std::min(x, 0.0) - std::log1p(std::exp(-std::fabs(x))); };
  // F: cumulative log forget gates; A: cumulative magnitudes; m: the exact stabilizer.
  std::vector<double> F(S + 1, 0.0), A(S + 1, 0.0), m(S + 1, c.m0);
  for (int64_t t = 1; t <= S; ++t) {
    const double lf = logsig(c.f[t - 1]);
    F[t] = F[t - 1] + lf;
    A[t] = A[t - 1] + std::fabs(lf);
    m[t] = std::max(lf + m[t - 1], static_cast<double>(c.i[t - 1]));
  }
  // Term s (1-based) seen at time t: weight and its rounding count.
  auto weight = [&](int64_t t, int64_t s) { return std::exp(F[t] - F[s] + c.i[s - 1] - m[t]); };
  auto rho = [&](int64_t t, int64_t s) {
    return DK + (t - s) + 4 + (A[t] - A[s]) + std::fabs(c.i[s - 1]) + std::fabs(m[t]) +
           std::fabs(m[s]);
  };
  auto rho0 = [&](int64_t t) { return DK + t + 4 + A[t] + std::fabs(c.m0) + std::fabs(m[t]); };
  CellErrorScale out;
  out.h.assign(S * DV, 0.0);
  std::vector<double> num(DV), enum_(DV);
  for (int64_t t = 1; t <= S; ++t) {
    const float* q = c.q + (t - 1) * DK;
    std::fill(num.begin(), num.end(), 0.0);
    std::fill(enum_.begin(), enum_.end(), 0.0);
    double den = 0, eden = 0;
    const double w0 = std::exp(F[t] + c.m0 - m[t]), r0 = rho0(t);
    for (int64_t a = 0; a < DK; ++a) {
      const double qa = q[a] * scale * w0;
      for (int64_t d = 0; d < DV; ++d) {
        num[d] += qa * c.C0[a * DV + d];
        enum_[d] += std::fabs(qa * c.C0[a * DV + d]) * r0;
      }
      den += qa * c.n0[a];
      eden += std::fabs(qa * c.n0[a]) * r0;
    }
    for (int64_t s = 1; s <= t; ++s) {
      const float* k = c.k + (s - 1) * DK;
      const float* v = c.v + (s - 1) * DV;
      double dot = 0, adot = 0;
      for (int64_t a = 0; a < DK; ++a) {
        dot += static_cast<double>(q[a]) * k[a];
        adot += std::fabs(static_cast<double>(q[a]) * k[a]);
      }
      const double w = weight(t, s) * scale, r = rho(t, s);
      for (int64_t d = 0; d < DV; ++d) {
        num[d] += w * dot * v[d];
        enum_[d] += w * adot * std::fabs(v[d]) * r;
      }
      den += w * dot;
      eden += w * adot * r;
    }
    const double denom = std::max(std::fabs(den), std::exp(-m[t])) + c.eps;
    for (int64_t d = 0; d < DV; ++d) {
      const double h = num[d] / denom;
      out.h[(t - 1) * DV + d] = u * ((enum_[d] + std::fabs(h) * eden) / denom + std::fabs(h));
    }
  }
  // Final state, stabilized by m_S.
  out.C.assign(DK * DV, 0.0);
  out.n.assign(DK, 0.0);
  const double w0 = std::exp(F[S] + c.m0 - m[S]), r0 = rho0(S);
  for (int64_t a = 0; a < DK; ++a) {
    out.n[a] = std::fabs(w0 * c.n0[a]) * r0;
    for (int64_t d = 0; d < DV; ++d) out.C[a * DV + d] = std::fabs(w0 * c.C0[a * DV + d]) * r0;
  }
  for (int64_t s = 1; s <= S; ++s) {
    const double w = weight(S, s), r = rho(S, s);
    const float* k = c.k + (s - 1) * DK;
    const float* v = c.v + (s - 1) * DV;
    for (int64_t a = 0; a < DK; ++a) {
      out.n[a] += w * std::fabs(k[a]) * r;
      for (int64_t d = 0; d < DV; ++d) out.C[a * DV + d] += w * std::fabs(k[a] * v[d]) * r;
    }
  }
  for (auto& x : out.C) x *= u;
  for (auto& x : out.n) x *= u;
  double gates = std::fabs(c.m0);
  for (int64_t s = 0; s < S; ++s) gates = std::max(gates, static_cast<double>(std::fabs(c.i[s])));
  out.m = u * (A[S] + gates + std::fabs(m[S]) + S + 1);
  return out;
}

// max_e |a_e − ref_e| / scale_e: how many error scales apart two evaluations are (NaN: infinite).
inline double scaled_error(const std::vector<float>& a, const std::vector<float>& ref,
                           const std::vector<double>& scale) {
  if (a.size() != ref.size() || a.size() != scale.size()) return INFINITY;
  double worst = 0;
  for (size_t e = 0; e < a.size(); ++e) {
    const double d = std::fabs(static_cast<double>(a[e]) - ref[e]);
    if (std::isnan(d)) return INFINITY;
    worst = std::max(worst, d / std::max(scale[e], 1e-300));
  }
  return worst;
}

}  // namespace xlstm::testing
