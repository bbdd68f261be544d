#include "ops/slstm/slstm_cell.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/cpu_dispatch.h"
#include "ops/elementwise.h"
#include "ops/linear.h"

namespace xlstm {

namespace {

// One step of one head after R·y: raw [4DH] gets Wx and the bias added, then the gates update the
// state and write y_out [DH] (and the state's y).
inline void head_step(float* raw, const float* wx, const float* bias, int64_t E, int64_t DH,
                      int64_t off, SlstmHeadState st, float* y_out) {
  for (int64_t r = 0; r < 4 * DH; ++r) {
    const int64_t g = r / DH, e = r % DH;
    raw[r] = raw[r] + wx[g * E + off + e] + bias[g * E + off + e];
  }
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

}  // namespace

XLSTM_CPU_KERNEL void slstm_head_sequence(const SlstmHeadSequence& seq, SlstmHeadState st) {
  const int64_t DH = seq.DH, rows = 4 * DH;
  // This thread's [4DH] of R·y, kept between calls (no allocation per step once sized).
  static thread_local std::vector<float> raw;
  raw.resize(static_cast<size_t>(rows));
  for (int64_t t = 0; t < seq.S; ++t) {
    // raw[g·DH + e] = R y_{t−1} (R's rows as the decode GEMV's: contiguous lanes), then + Wx + b
    gemv_rows_f32(st.y, DH, seq.R, 0, rows, raw.data());
    head_step(raw.data(), seq.wx + t * seq.wx_stride, seq.bias, seq.E, DH, seq.head * DH, st,
              seq.y + t * seq.y_stride + seq.head * DH);
  }
}

int64_t slstm_step_batch_floats(int64_t B, int64_t E) {
  return B * 4 * E + B * E;  // raw [NH, B, 4DH] | one head's previous y [B, DH]
}

void slstm_step_batch(const SlstmStepBatch& s) {
  const int64_t B = s.B, E = s.E, NH = s.NH, DH = E / NH, rows = 4 * DH;
  // raw [NH, B, 4DH]: per head, every sequence's R y in one few-row product (R read once)
  float* raw = s.scratch;
  float* y_prev = raw + B * 4 * E;
  for (int64_t h = 0; h < NH; ++h) {
    for (int64_t b = 0; b < B; ++b) std::copy_n(s.y_state + b * E + h * DH, DH, y_prev + b * DH);
    linear_f32(y_prev, B, DH, s.R + h * rows * DH, rows, nullptr, raw + h * B * rows);
  }
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t h = 0; h < NH; ++h) {
      const int64_t o = b * E + h * DH;
      head_step(raw + (h * B + b) * rows, s.wx + b * 4 * E, s.bias, E, DH, h * DH,
                {s.y_state + o, s.c + o, s.n + o, s.m + o}, s.y + b * E + h * DH);
    }
  }
}

}  // namespace xlstm
