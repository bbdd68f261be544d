#pragma once
// Launching a kernel with programmatic dependent launch (Hopper): with the attribute, the kernel's
// blocks may start once every block of the preceding kernel has called allow_dependent_launch()
// (or ended), and must call wait_for_preceding_kernel() before reading anything that kernel
// writes. Only where the code running is sm_90 or newer: the wait compiles to nothing in older
// targets (e.g. the compute_80 PTX JIT-compiled for a newer GPU), and the launch must then be
// ordinary. XLSTM_PDL=off makes every launch ordinary (measurements).
#include <cstdlib>
#include <string>

#include "backend/cuda/common.cuh"

namespace xlstm::cuda {

template <typename... Params>
bool pdl_available(void (*kernel)(Params...)) {
  cudaFuncAttributes fa{};
  XLSTM_CUDA_CHECK(cudaFuncGetAttributes(&fa, kernel));
  const char* e = std::getenv("XLSTM_PDL");
  return fa.binaryVersion >= 90 && fa.ptxVersion >= 90 &&
         !(e != nullptr && std::string(e) == "off");
}

// kernel<<<grid, block, 0, s>>>(args...), programmatic when `pdl` (from pdl_available).
template <typename... Params, typename... Args>
void launch_maybe_pdl(bool pdl, void (*kernel)(Params...), dim3 grid, dim3 block, Stream s,
                      Args&&... args) {
  cudaLaunchConfig_t cfg{};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.stream = s;
  cudaLaunchAttribute attr{};
  attr.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr.val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = &attr;
  cfg.numAttrs = pdl ? 1 : 0;
  XLSTM_CUDA_CHECK(cudaLaunchKernelEx(&cfg, kernel, std::forward<Args>(args)...));
  XLSTM_CUDA_CHECK_LAUNCH();
}

}  // namespace xlstm::cuda
