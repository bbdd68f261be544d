#pragma once
// The sLSTM cell (spec §3.4): per head a block-diagonal recurrence on the previous output y,
// stabilized exponential gating, float32 state (y, c, n, m). Recurrent in every mode.
#include <cstdint>

namespace xlstm {

// One (sequence, head) over S steps. Gate pre-activations come gate-major: row t holds
// i | f | z | o, each E wide, this head's DH entries at offset head·DH inside each gate.
struct SlstmHeadSequence {
  int64_t S, E, DH, head;
  const float* wx;  // [S, 4E] input contributions (W x), row stride wx_stride
  int64_t wx_stride;
  const float* R;     // [4·DH, DH] this head's recurrent matrix, row g·DH + e (vanilla layout)
  const float* bias;  // [4E] gate-major, the whole layer's
  float* y;           // [S, E] outputs (this head's columns), row stride y_stride
  int64_t y_stride;
};

// This head's slice of the state, each [DH].
struct SlstmHeadState {
  float *y, *c, *n, *m;
};

// Per element: m = raw_i where n == 0 (a fresh state), else max(raw_i, m + logσ(raw_f));
// i' = min(e^{raw_i − m}, 1), f' = min(e^{m_prev + logσ(raw_f) − m}, 1); c = f'c + i' tanh z;
// n = f'n + i'; y = σ(o) c / n. (The official vanilla backend tests n == 0 over the whole batch,
// its CUDA backend per element; the two agree for fresh and for warm states, and per element keeps
// every sequence of a batch independent of the others.)
void slstm_head_sequence(const SlstmHeadSequence& seq, SlstmHeadState st);

// One step of B sequences, every head (decode of a batch): the same math, with each head's
// R·y for all B sequences as one few-row product, so R is read once per step, not B times.
// wx: [B, 4E] (W x, gate-major); state tensors [B, E]; y: [B, E] outputs; scratch:
// slstm_step_batch_floats(B, E) floats of the caller's (no allocation per step).
struct SlstmStepBatch {
  int64_t B, E, NH;
  const float* wx;
  const float* R;  // [NH, 4·DH, DH] float32
  const float* bias;
  float *y_state, *c, *n, *m;
  float* y;
  float* scratch;
};
int64_t slstm_step_batch_floats(int64_t B, int64_t E);
void slstm_step_batch(const SlstmStepBatch& s);

}  // namespace xlstm
