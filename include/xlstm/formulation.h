#pragma once
// Which formulation of the mLSTM recurrence a forward pass uses (spec §2); all compute the same
// function.
#include <string>

namespace xlstm {

enum class Formulation { Parallel, Chunkwise, Step };
Formulation parse_formulation(const std::string& name);  // "parallel" | "chunkwise" | "step"
const char* formulation_name(Formulation f);

}  // namespace xlstm
