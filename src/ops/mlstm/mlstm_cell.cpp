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

}  // namespace xlstm
