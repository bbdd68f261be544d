#include "ops/mlstm/mlstm_cell.h"

#include <string>

#include "xlstm/error.h"

namespace xlstm {

const char* formulation_name(Formulation f) {
  switch (f) {
    case Formulation::Parallel:
      return "parallel";
    case Formulation::Chunkwise:
      return "chunkwise";
    case Formulation::Step:
      return "step";
  }
  return "?";
}

Formulation parse_formulation(const std::string& s) {
  if (s == "parallel") return Formulation::Parallel;
  if (s == "chunkwise") return Formulation::Chunkwise;
  if (s == "step") return Formulation::Step;
  throw InvalidInput(
      tagged("mlstm", "unknown formulation '" + s + "' (expected parallel, chunkwise or step)"));
}

void mlstm_run(Formulation mode, const CellSequence& seq, CellState st, float eps, int64_t chunk) {
  switch (mode) {
    case Formulation::Parallel:
      return mlstm_parallel(seq, st, eps);
    case Formulation::Chunkwise:
      if (chunk <= 0) {
        throw InvalidInput(
            tagged("mlstm_chunkwise", "chunk size must be positive, got " + std::to_string(chunk)));
      }
      return mlstm_chunkwise(seq, st, eps, chunk);
    case Formulation::Step:
      return mlstm_step_sequence(seq, st, eps);
  }
}

void mlstm_run_heads(Formulation mode, const float* rows, int64_t W, int64_t gates, int64_t B,
                     int64_t S, int64_t NH, int64_t DHQK, int64_t DHV, float* h, CellState st,
                     float eps, int64_t chunk) {
  const int64_t qk = NH * DHQK, v = NH * DHV;
#pragma omp parallel for collapse(2) schedule(dynamic)
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t hd = 0; hd < NH; ++hd) {
      const float* r = rows + b * S * W;
      CellSequence seq{S,
                       DHQK,
                       DHV,
                       {r + hd * DHQK, W},
                       {r + qk + hd * DHQK, W},
                       {r + 2 * qk + hd * DHV, W},
                       {r + gates + hd, W},
                       {r + gates + NH + hd, W},
                       h + b * S * v + hd * DHV,
                       v};
      const int64_t bh = b * NH + hd;
      mlstm_run(mode, seq, {st.C + bh * DHQK * DHV, st.n + bh * DHQK, st.m + bh}, eps, chunk);
    }
  }
}

}  // namespace xlstm
