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

}  // namespace xlstm
