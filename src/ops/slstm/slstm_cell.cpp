#include "ops/slstm/slstm_cell.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/cpu_dispatch.h"
#include "ops/elementwise.h"

namespace xlstm {

namespace {

// out[i] = Σ_d R[i, d] · y[d] for N rows of R [·, DH] at once, each sum in order of d: the rows'
// independent chains overlap (one row's sum is a chain of dependent adds), and every sum is the
// one a row-by-row loop makes, bit for bit.
constexpr int kRows = 8;
template <int N>
inline void recurrent_rows(const float* R, int64_t DH, const float* y, float* out) {
  float acc[N] = {};
  for (int64_t d = 0; d < DH; ++d) {
    const float yd = y[d];
    for (int i = 0; i < N; ++i) acc[i] += R[i * DH + d] * yd;
  }
  for (int i = 0; i < N; ++i) out[i] = acc[i];
}

}  // namespace

XLSTM_CPU_KERNEL void slstm_head_sequence(const SlstmHeadSequence& seq, SlstmHeadState st) {
  const int64_t DH = seq.DH, E = seq.E, off = seq.head * DH, rows = 4 * DH;
  std::vector<float> raw(static_cast<size_t>(rows));
  for (int64_t t = 0; t < seq.S; ++t) {
    const float* wx = seq.wx + t * seq.wx_stride;
    // raw[g·DH + e] = Wx + R y_{t−1} + b
    int64_t r = 0;
    for (; r + kRows <= rows; r += kRows) recurrent_rows<kRows>(seq.R + r * DH, DH, st.y, &raw[r]);
    for (; r < rows; ++r) recurrent_rows<1>(seq.R + r * DH, DH, st.y, &raw[r]);
    for (r = 0; r < rows; ++r) {
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
