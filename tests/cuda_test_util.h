#pragma once
// Helpers for the CUDA tests: skipping without a device, device buffers from host vectors and
// back (float32 or bf16 storage), poisoned outputs.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "backend/cuda/api.h"
#include "core/dtype.h"
#include "core/matrix.h"

namespace xlstm::testing {

// Every CUDA test starts with this: it skips in builds without the backend and without a device.
#define XLSTM_SKIP_WITHOUT_CUDA()                                                                \
  do {                                                                                           \
    if (::xlstm::cuda::device_count() == 0)                                                      \
      GTEST_SKIP() << (::xlstm::cuda::built() ? "no CUDA device" : "build has no CUDA backend"); \
  } while (0)

inline size_t type_bytes(WeightType t) {
  return t == WeightType::BF16 ? 2 : 4;
}

// Values as the device stores them in type t: bf16 rounds.
inline std::vector<float> rounded(std::vector<float> v, WeightType t) {
  if (t == WeightType::BF16)
    for (auto& x : v) x = bf16_to_f32(f32_to_bf16(x));
  return v;
}

inline cuda::DeviceBuffer to_device(const std::vector<float>& v, WeightType t = WeightType::F32) {
  cuda::DeviceBuffer d(std::max<size_t>(v.size() * type_bytes(t), 1));
  if (t == WeightType::BF16) {
    std::vector<uint16_t> h(v.size());
    for (size_t i = 0; i < v.size(); ++i) h[i] = f32_to_bf16(v[i]);
    cuda::copy_to_device(d.get(), h.data(), h.size() * 2);
  } else {
    cuda::copy_to_device(d.get(), v.data(), v.size() * 4);
  }
  return d;
}

template <typename T>
cuda::DeviceBuffer to_device_raw(const std::vector<T>& v) {
  cuda::DeviceBuffer d(std::max<size_t>(v.size() * sizeof(T), 1));
  cuda::copy_to_device(d.get(), v.data(), v.size() * sizeof(T));
  return d;
}

// A device buffer of n elements of type t, every byte 0xFF (NaN): unwritten outputs show.
inline cuda::DeviceBuffer poisoned(size_t n, WeightType t = WeightType::F32) {
  cuda::DeviceBuffer d(std::max<size_t>(n * type_bytes(t), 1));
  cuda::fill_nan(d.get(), n * type_bytes(t));
  return d;
}

inline std::vector<float> to_host(const cuda::DeviceBuffer& d, size_t n,
                                  WeightType t = WeightType::F32) {
  cuda::synchronize();
  std::vector<float> out(n);
  if (t == WeightType::BF16) {
    std::vector<uint16_t> h(n);
    cuda::copy_to_host(h.data(), d.get(), n * 2);
    for (size_t i = 0; i < n; ++i) out[i] = bf16_to_f32(h[i]);
  } else {
    cuda::copy_to_host(out.data(), d.get(), n * 4);
  }
  return out;
}

template <typename T>
std::vector<T> to_host_raw(const cuda::DeviceBuffer& d, size_t n) {
  cuda::synchronize();
  std::vector<T> out(n);
  cuda::copy_to_host(out.data(), d.get(), n * sizeof(T));
  return out;
}

}  // namespace xlstm::testing
