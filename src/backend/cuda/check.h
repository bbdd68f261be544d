#pragma once
// Checked CUDA and cuBLASLt calls: a failure throws xlstm::Error
// "[cuda] file.cu:123: call: cudaErrorX (message)". Only in files compiled with the CUDA backend.
#include <cublasLt.h>
#include <cuda_runtime.h>

#include <string>

#include "xlstm/error.h"

namespace xlstm::cuda {

[[noreturn]] inline void throw_cuda(const std::string& what, const char* file, int line) {
  std::string f = file;
  const auto slash = f.find_last_of('/');
  if (slash != std::string::npos) f = f.substr(slash + 1);
  throw Error(tagged("cuda", f + ":" + std::to_string(line) + ": " + what));
}

inline void check_cuda(cudaError_t e, const char* call, const char* file, int line) {
  if (e != cudaSuccess) {
    throw_cuda(std::string(call) + ": " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")",
               file, line);
  }
}

inline void check_cublas(cublasStatus_t st, const char* call, const char* file, int line) {
  if (st != CUBLAS_STATUS_SUCCESS) {
    throw_cuda(std::string(call) + ": cublas status " + std::to_string(static_cast<int>(st)), file,
               line);
  }
}

}  // namespace xlstm::cuda

#define XLSTM_CUDA_CHECK(call) ::xlstm::cuda::check_cuda((call), #call, __FILE__, __LINE__)
// After a kernel launch: configuration errors surface here, faults at the next synchronization.
#define XLSTM_CUDA_CHECK_LAUNCH() \
  ::xlstm::cuda::check_cuda(cudaGetLastError(), "kernel launch", __FILE__, __LINE__)
#define XLSTM_CUBLAS_CHECK(call) ::xlstm::cuda::check_cublas((call), #call, __FILE__, __LINE__)
