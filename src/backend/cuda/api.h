#pragma once
// The CUDA backend's host entry points, declared without CUDA headers: every build compiles code
// that calls them, and a build without CUDA links no_cuda.cpp, whose versions throw
// "[cuda] this build has no CUDA backend ...". Pointers named d_* are device memory.
#include <cstddef>
#include <cstdint>
#include <string>

struct CUstream_st;  // = cudaStream_t's pointee

namespace xlstm::cuda {

using Stream = CUstream_st*;  // nullptr: the default stream

bool built();                      // does this build have the CUDA backend
int device_count();                // 0 in a stub build or without a usable device; never throws
std::string device_description();  // e.g. "NVIDIA H100 80GB HBM3, sm_90, 132 SMs, 79.1 GiB"
void require_device();             // throws "[cuda] ..." unless device_count() > 0
size_t device_total_bytes();       // the current device's memory; 0 without a device

// Plain device memory (cudaMalloc), for tests and tools.
void* device_alloc(size_t bytes);
void device_free(void* d_ptr) noexcept;
void copy_to_device(void* d_dst, const void* src, size_t bytes);
void copy_to_host(void* dst, const void* d_src, size_t bytes);
void copy_on_device(void* d_dst, const void* d_src, size_t bytes);  // ordered like the two above
void fill_nan(void* d_ptr, size_t bytes);  // poison: every byte 0xFF is NaN in f32 and bf16
void synchronize();                        // waits for the device; throws on a pending error
bool stream_is_capturing(Stream s);        // whether s is recording a CUDA graph
// The longest stress-test pause XLSTM_PD_JITTER_NS takes (its settings: core/env_settings.h).
inline constexpr uint32_t kMaxJitterNs = 1000000;
// Programmatic dependent launch allowed (XLSTM_PDL=off: every launch ordinary; read once).
bool pdl_enabled();
// Bytes held through device_alloc now, and the most held at once since the last reset.
size_t device_bytes_in_use();
size_t device_bytes_peak();
void reset_device_bytes_peak();
// Persistent decode kernels (decode_persistent.h) enqueued by this process so far: tests check
// that the path they compare really ran.
uint64_t persistent_decode_launches();
// The same for the mLSTM v1 runs' kernel (decode_persistent_v1.h).
uint64_t v1_decode_launches();

// Owner of one cudaMalloc'd buffer.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t bytes) : p_(bytes ? device_alloc(bytes) : nullptr), n_(bytes) {}
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept : p_(o.p_), n_(o.n_) { o.p_ = nullptr, o.n_ = 0; }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      device_free(p_);
      p_ = o.p_, n_ = o.n_;
      o.p_ = nullptr, o.n_ = 0;
    }
    return *this;
  }
  ~DeviceBuffer() { device_free(p_); }

  void* get() const { return p_; }
  template <typename T>
  T* as() const {
    return static_cast<T*>(p_);
  }
  size_t bytes() const { return n_; }

 private:
  void* p_ = nullptr;
  size_t n_ = 0;
};

}  // namespace xlstm::cuda
