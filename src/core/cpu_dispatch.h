// XLSTM_CPU_KERNEL marks a hot CPU kernel. In the portable build (CMake XLSTM_NATIVE=OFF with
// XLSTM_DISPATCH=ON, which defines XLSTM_CPU_DISPATCH) the compiler emits the function once per
// x86-64 level (v4: AVX-512, v3: AVX2 + FMA, and the build's baseline, x86-64-v2) and the dynamic
// loader binds the best one the CPU runs (an ifunc), so one binary runs anywhere and keeps the wide
// vectors where they exist. In a native build it is empty: -march=native already picks them. GCC
// only (clang 14 lacks the x86-64 levels in __builtin_cpu_supports): with clang it is empty too.
//
// Put it on leaf functions only: an OpenMP parallel region inside a marked function is outlined
// into a function of its own before cloning, and that one would be compiled for the baseline.
#pragma once

#if defined(XLSTM_CPU_DISPATCH) && defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define XLSTM_CPU_DISPATCH_ACTIVE 1
#define XLSTM_CPU_KERNEL \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define XLSTM_CPU_KERNEL
#endif
