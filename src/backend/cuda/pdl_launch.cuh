#pragma once
// Launches with an attribute (cudaLaunchKernelEx), and programmatic dependent launch (Hopper),
// the attribute most launches use: with it, the kernel's
// blocks may start once every block of the preceding kernel has called allow_dependent_launch()
// (or ended), and must call wait_for_preceding_kernel() before reading anything that kernel
// writes. Only where the code running is sm_90 or newer: the wait compiles to nothing in older
// targets (e.g. the compute_80 PTX JIT-compiled for a newer GPU), and the launch must then be
// ordinary. XLSTM_PDL=off makes every launch ordinary (measurements).
#include <utility>

#include "backend/cuda/api.h"
#include "backend/cuda/common.cuh"

namespace xlstm::cuda {

template <typename... Params>
bool pdl_available(void (*kernel)(Params...)) {
  cudaFuncAttributes fa{};
  XLSTM_CUDA_CHECK(cudaFuncGetAttributes(&fa, kernel));
  return pdl_enabled() && fa.binaryVersion >= 90 && fa.ptxVersion >= 90;
}

// kernel<<<grid, block, smem, s>>>(args...) with one launch attribute (null: none), through
// cudaLaunchKernelEx: the launches that need an attribute (programmatic, cooperative) share it.
template <typename... Params, typename... Args>
void launch_with_attribute(const cudaLaunchAttribute* attr, void (*kernel)(Params...), dim3 grid,
                           dim3 block, size_t smem, Stream s, Args&&... args) {
  cudaLaunchConfig_t cfg{};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem;
  cfg.stream = s;
  cfg.attrs = const_cast<cudaLaunchAttribute*>(attr);
  cfg.numAttrs = attr != nullptr ? 1 : 0;
  XLSTM_CUDA_CHECK(cudaLaunchKernelEx(&cfg, kernel, std::forward<Args>(args)...));
  XLSTM_CUDA_CHECK_LAUNCH();
}

// kernel<<<grid, block, smem, s>>>(args...) as a cooperative launch: every block resident at
// once (they wait on each other).
template <typename... Params, typename... Args>
void launch_cooperative(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem, Stream s,
                        Args&&... args) {
  cudaLaunchAttribute cooperative{};
  cooperative.id = cudaLaunchAttributeCooperative;
  cooperative.val.cooperative = 1;
  launch_with_attribute(&cooperative, kernel, grid, block, smem, s, std::forward<Args>(args)...);
}

// What a persistent kernel (one block per SM, launched cooperatively) needs of the device:
// usable when it has cooperative launch and the kernel was compiled from sm_90 code (a newer GPU
// JIT-compiling the compute_80 PTX gets an empty body: binaryVersion alone would pass); the
// kernel is then allowed all of a block's opt-in shared memory.
struct PersistentFacts {
  bool usable = false;
  int sms = 0, smem_optin = 0;
};
template <typename... Params>
PersistentFacts persistent_facts(void (*kernel)(Params...)) {
  PersistentFacts f;
  int dev = 0, coop = 0;
  XLSTM_CUDA_CHECK(cudaGetDevice(&dev));
  XLSTM_CUDA_CHECK(cudaDeviceGetAttribute(&coop, cudaDevAttrCooperativeLaunch, dev));
  XLSTM_CUDA_CHECK(cudaDeviceGetAttribute(&f.sms, cudaDevAttrMultiProcessorCount, dev));
  XLSTM_CUDA_CHECK(
      cudaDeviceGetAttribute(&f.smem_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
  cudaFuncAttributes fa{};
  XLSTM_CUDA_CHECK(cudaFuncGetAttributes(&fa, kernel));
  f.usable = coop != 0 && fa.binaryVersion >= 90 && fa.ptxVersion >= 90;
  if (f.usable)
    XLSTM_CUDA_CHECK(
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, f.smem_optin));
  return f;
}

// kernel<<<grid, block, 0, s>>>(args...), programmatic when `pdl` (from pdl_available).
template <typename... Params, typename... Args>
void launch_maybe_pdl(bool pdl, void (*kernel)(Params...), dim3 grid, dim3 block, Stream s,
                      Args&&... args) {
  cudaLaunchAttribute attr{};
  attr.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr.val.programmaticStreamSerializationAllowed = 1;
  launch_with_attribute(pdl ? &attr : nullptr, kernel, grid, block, 0, s,
                        std::forward<Args>(args)...);
}

}  // namespace xlstm::cuda
