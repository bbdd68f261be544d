// The portable build's runtime dispatch names an instruction set this CPU really runs.
#include <gtest/gtest.h>

#include <string>

#include "xlstm/cpu.h"

namespace {

bool cpu_has(const std::string& feature) {
  __builtin_cpu_init();
  if (feature == "avx512f") return __builtin_cpu_supports("avx512f");
  if (feature == "avx2") return __builtin_cpu_supports("avx2");
  if (feature == "fma") return __builtin_cpu_supports("fma");
  return false;
}

TEST(CpuDispatch, ReportsWhatTheKernelsRunWith) {
  const std::string target = xlstm::cpu_kernel_target();
  ASSERT_FALSE(target.empty());
#ifdef XLSTM_CPU_DISPATCH
#if defined(__GNUC__) && !defined(__clang__)
  // The level follows the CPU: v4 only with AVX-512, v3 only with AVX2 and FMA, v2 otherwise.
  ASSERT_NE(target.find("(runtime dispatch)"), std::string::npos) << target;
  if (target.find("x86-64-v4") != std::string::npos) EXPECT_TRUE(cpu_has("avx512f"));
  if (target.find("x86-64-v3") != std::string::npos) {
    EXPECT_TRUE(cpu_has("avx2") && cpu_has("fma"));
    EXPECT_FALSE(__builtin_cpu_supports("x86-64-v4")) << "a v4 CPU must get the v4 kernels";
  }
  if (target.find("x86-64-v2") != std::string::npos)
    EXPECT_FALSE(cpu_has("avx2") && cpu_has("fma"));
#endif
#else
  // ("... (no runtime dispatch)" in an exact-level build: a first form of this check, looking
  // for "runtime dispatch", matched it; seen on the AVX-512 host.)
  EXPECT_EQ(target.find("(runtime dispatch)"), std::string::npos) << target;
#endif
}

}  // namespace
