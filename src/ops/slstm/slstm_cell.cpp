#include "ops/slstm/slstm_cell.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/cpu_dispatch.h"
#include "ops/elementwise.h"
#include "ops/linear.h"

namespace xlstm {

XLSTM_CPU_KERNEL void slstm_head_sequence(const SlstmHeadSequence& seq, SlstmHeadState st) {
  const int64_t DH = seq.DH, E = seq.E, off = seq.head * DH, rows = 4 * DH;
  std::vector<float> raw(static_cast<size_t>(rows));
  for (int64_t t = 0; t < seq.S; ++t) {
    const float* wx = seq.wx + t * seq.wx_stride;
    // raw[g·DH + e] = Wx + R y_{t−1} + b (R's rows as the decode GEMV's: contiguous lanes)
    gemv_rows_f32(st.y, DH, seq.R, 0, rows, raw.data());
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t g = r / DH, e = r % DH;
      raw[r] = raw[r] + wx[g * E + off + e] + seq.bias[g * E + off + e];
    }
    float* y_out = seq.y + t * seq.y_stride + off;
    for (int64_t e = 0; e < DH; ++e) {
      const float ri = raw[e], rf = raw[DH + e], rz = raw[2 * DH + e], ro = raw[3 * DH + e];
      const float lfm = st.m[e] + log_sigmoid(rf);
      const float m_new = st.n[e] == 0.0f ? ri : std::max(ri, lfm);
      const float ig = std::min(std::exp(ri - m_new), 1.0f);
      const float fg = std::min(std::exp(lfm - m_new), 1.0f);
      const float c = fg * st.c[e] + ig * std::tanh(rz);
      const float n = fg * st.n[e] + ig;
      st.c[e] = c;
      st.n[e] = n;
      st.m[e] = m_new;
      y_out[e] = sigmoid(ro) * c / n;
    }
    std::copy_n(y_out, DH, st.y);
  }
}

}  // namespace xlstm
