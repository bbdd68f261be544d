// Device discovery and plain device memory for the CUDA backend.
#include <algorithm>
#include <cstdio>
#include <mutex>
#include <string>
#include <unordered_map>

#include "backend/cuda/api.h"
#include "backend/cuda/check.h"
#include "core/env_settings.h"
#include "xlstm/error.h"

namespace xlstm::cuda {

bool built() {
  return true;
}

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // no driver or no device: clear the sticky error, report none
    return 0;
  }
  return n;
}

std::string device_description() {
  if (device_count() == 0) return "no CUDA device";
  int dev = 0;
  XLSTM_CUDA_CHECK(cudaGetDevice(&dev));
  cudaDeviceProp p{};
  XLSTM_CUDA_CHECK(cudaGetDeviceProperties(&p, dev));
  char mem[32];
  std::snprintf(mem, sizeof mem, "%.1f", static_cast<double>(p.totalGlobalMem) / (1 << 30));
  return std::string(p.name) + ", sm_" + std::to_string(p.major) + std::to_string(p.minor) + ", " +
         std::to_string(p.multiProcessorCount) + " SMs, " + mem + " GiB";
}

size_t device_total_bytes() {
  if (device_count() == 0) return 0;
  int dev = 0;
  XLSTM_CUDA_CHECK(cudaGetDevice(&dev));
  cudaDeviceProp p{};
  XLSTM_CUDA_CHECK(cudaGetDeviceProperties(&p, dev));
  return p.totalGlobalMem;
}

void require_device() {
  if (device_count() == 0) {
    int n = 0;
    const cudaError_t e = cudaGetDeviceCount(&n);
    cudaGetLastError();
    throw Error(tagged("cuda", std::string("no CUDA device available (cudaGetDeviceCount: ") +
                                   cudaGetErrorName(e) + ")"));
  }
}

namespace {
// Accounting of device_alloc's memory (for benchmarks' peak memory).
struct Accounting {
  std::mutex mu;
  std::unordered_map<void*, size_t> sizes;
  size_t in_use = 0, peak = 0;
};
Accounting& accounting() {
  static Accounting a;
  return a;
}
}  // namespace

size_t device_bytes_in_use() {
  std::lock_guard lock(accounting().mu);
  return accounting().in_use;
}
size_t device_bytes_peak() {
  std::lock_guard lock(accounting().mu);
  return accounting().peak;
}
void reset_device_bytes_peak() {
  std::lock_guard lock(accounting().mu);
  accounting().peak = accounting().in_use;
}

void* device_alloc(size_t bytes) {
  void* p = nullptr;
  if (bytes == 0) return nullptr;
  const cudaError_t e = cudaMalloc(&p, bytes);
  if (e != cudaSuccess) {
    cudaGetLastError();
    throw Error(tagged("cuda", "cudaMalloc of " + std::to_string(bytes >> 20) + " MiB failed: " +
                                   cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")"));
  }
  Accounting& a = accounting();
  std::lock_guard lock(a.mu);
  a.sizes[p] = bytes;
  a.in_use += bytes;
  a.peak = std::max(a.peak, a.in_use);
  return p;
}

void device_free(void* p) noexcept {
  if (p == nullptr) return;
  cudaFree(p);  // errors at exit (context gone) are of no use here
  Accounting& a = accounting();
  std::lock_guard lock(a.mu);
  if (auto it = a.sizes.find(p); it != a.sizes.end()) {
    a.in_use -= it->second;
    a.sizes.erase(it);
  }
}

void copy_to_device(void* dst, const void* src, size_t bytes) {
  if (bytes > 0) XLSTM_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
}

void copy_to_host(void* dst, const void* src, size_t bytes) {
  if (bytes > 0) XLSTM_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
}

void copy_on_device(void* dst, const void* src, size_t bytes) {
  // The legacy default stream: ordered after the models' (blocking) streams, and before them.
  if (bytes > 0) XLSTM_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice));
}

void fill_nan(void* p, size_t bytes) {
  if (bytes > 0) XLSTM_CUDA_CHECK(cudaMemset(p, 0xFF, bytes));
}

void synchronize() {
  XLSTM_CUDA_CHECK(cudaDeviceSynchronize());
}

bool pdl_enabled() {
  static const bool on = env_switch("XLSTM_PDL", true);
  return on;
}

bool stream_is_capturing(Stream s) {
  cudaStreamCaptureStatus capture{};
  XLSTM_CUDA_CHECK(cudaStreamIsCapturing(s, &capture));
  return capture != cudaStreamCaptureStatusNone;
}

}  // namespace xlstm::cuda
