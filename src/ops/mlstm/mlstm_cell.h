#pragma once
// The mLSTM cell of xLSTM Large (spec §1.5, §2) in three formulations over one float32 state.
// All take gate PRE-activations (already soft-capped) and scale q by 1/sqrt(DHQK); k is unscaled.
#include <cstdint>

#include "xlstm/formulation.h"

namespace xlstm {

// Rows of a 2-D buffer: element (t, j) at p[t * stride + j].
struct Rows {
  const float* p;
  int64_t stride;
  const float* row(int64_t t) const { return p + t * stride; }
};

// One (batch element, head) sequence of S steps.
struct CellSequence {
  int64_t S, DHQK, DHV;
  Rows q, k, v;       // [S, DHQK], [S, DHQK], [S, DHV]
  Rows igate, fgate;  // [S, 1] pre-activations
  float* h;           // [S, DHV] output, row stride h_stride
  int64_t h_stride;
};

// State of one (batch element, head): C [DHQK, DHV] row-major, n [DHQK], m scalar. Updated in
// place.
struct CellState {
  float* C;
  float* n;
  float* m;
};

void mlstm_step_sequence(const CellSequence& seq, CellState st, float eps);
void mlstm_chunkwise(const CellSequence& seq, CellState st, float eps, int64_t chunk);
// Quadratic form (the reference), with the initial-state term included, in double precision.
void mlstm_parallel(const CellSequence& seq, CellState st, float eps);

void mlstm_run(Formulation mode, const CellSequence& seq, CellState st, float eps, int64_t chunk);

// Every (sequence, head) of a batch, in parallel. Token (b, s)'s projections sit in row b·S + s
// of `rows` (width W): q at column 0, k at NH·DHQK, v at 2·NH·DHQK (head-major), ĩ at column
// `gates`, f̃ at gates + NH. h: [B·S, NH·DHV]. st: the whole batch's C [B, NH, DHQK, DHV],
// n [B, NH, DHQK], m [B, NH].
void mlstm_run_heads(Formulation mode, const float* rows, int64_t W, int64_t gates, int64_t B,
                     int64_t S, int64_t NH, int64_t DHQK, int64_t DHV, float* h, CellState st,
                     float eps, int64_t chunk);

}  // namespace xlstm
