// Recurrent form, one token at a time (spec §1.5): the decode path.
#include <algorithm>
#include <cmath>

#include "core/cpu_dispatch.h"
#include "ops/elementwise.h"
#include "ops/mlstm/mlstm_cell.h"

namespace xlstm {

XLSTM_CPU_KERNEL void mlstm_step_sequence(const CellSequence& seq, CellState st, float eps) {
  const int64_t DHQK = seq.DHQK, DHV = seq.DHV;
  const float scale = 1.0f / std::sqrt(static_cast<float>(DHQK));
  for (int64_t t = 0; t < seq.S; ++t) {
    const float* q = seq.q.row(t);
    const float* k = seq.k.row(t);
    const float* v = seq.v.row(t);
    const float i_pre = *seq.igate.row(t);
    const float lf = log_sigmoid(*seq.fgate.row(t));
    const float m_prev = *st.m;
    const float m_new = std::max(lf + m_prev, i_pre);
    const float f_act = std::exp(lf + m_prev - m_new);
    const float i_act = std::exp(i_pre - m_new);
    *st.m = m_new;

    float* h = seq.h + t * seq.h_stride;
    std::fill(h, h + DHV, 0.0f);
    float qn = 0.0f;
    for (int64_t a = 0; a < DHQK; ++a) {
      float* C_row = st.C + a * DHV;
      const float ik = i_act * k[a];
      for (int64_t d = 0; d < DHV; ++d) C_row[d] = f_act * C_row[d] + ik * v[d];
      st.n[a] = f_act * st.n[a] + ik;
      const float qa = q[a] * scale;
      for (int64_t d = 0; d < DHV; ++d) h[d] += qa * C_row[d];
      qn += qa * st.n[a];
    }
    const float denom = std::max(std::fabs(qn), std::exp(-m_new)) + eps;
    for (int64_t d = 0; d < DHV; ++d) h[d] /= denom;
  }
}

}  // namespace xlstm
