#include "core/cpu_dispatch.h"

#include "xlstm/cpu.h"

namespace xlstm {

std::string cpu_kernel_target() {
#ifdef XLSTM_CPU_DISPATCH_ACTIVE
  // The same order as the ifunc resolvers of target_clones: the highest level the CPU runs.
  __builtin_cpu_init();
  if (__builtin_cpu_supports("x86-64-v4")) return "x86-64-v4 (runtime dispatch)";
  if (__builtin_cpu_supports("x86-64-v3")) return "x86-64-v3 (runtime dispatch)";
  return "x86-64-v2 (runtime dispatch)";
#elif defined(XLSTM_NATIVE_BUILD)
  return "this build machine (-march=native)";
#else
  return "the build's flags (no runtime dispatch)";
#endif
}

}  // namespace xlstm
