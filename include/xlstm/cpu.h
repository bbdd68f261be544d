#pragma once

#include <string>

namespace xlstm {

// What the engine's hot CPU kernels were compiled for on this machine: in the portable build
// (XLSTM_NATIVE=OFF) the x86-64 level that runtime dispatch picked for this CPU, e.g.
// "x86-64-v3 (runtime dispatch)"; otherwise "build flags (-march=native)" or the like.
std::string cpu_kernel_target();

}  // namespace xlstm
