// Moving weights and activations between storage types: embedding rows, checkpoint dtype
// conversion at load, row copies into GEMM inputs, and random weights drawn on the device.
#include <cuda_fp16.h>

#include "backend/cuda/common.cuh"
#include "backend/cuda/ops.h"
#include "xlstm/error.h"

namespace xlstm::cuda {

namespace {

constexpr int kThreads = 256;

unsigned grid_for(int64_t n) {
  return std::min<unsigned>(blocks_for(n, kThreads), 65535u);
}

#define GRID_STRIDE(i, n)                                                                \
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)

template <typename T>
__global__ void gather_kernel(const int32_t* ids, int64_t T_, const T* table, int64_t E, float* x) {
  GRID_STRIDE(i, T_ * E) {
    x[i] = load(table + static_cast<int64_t>(ids[i / E]) * E + i % E);
  }
}

template <typename Src, typename Dst>
__global__ void convert_kernel(const Src* src, Dst* dst, int64_t n) {
  GRID_STRIDE(i, n) {
    store(dst + i, load(src + i));
  }
}

__global__ void convert_f16_kernel(const __half* src, void* dst, bool to_bf16, int64_t n) {
  GRID_STRIDE(i, n) {
    const float v = __half2float(src[i]);
    if (to_bf16) {
      store(static_cast<bf16*>(dst) + i, v);
    } else {
      static_cast<float*>(dst)[i] = v;
    }
  }
}

template <typename T>
__global__ void copy_rows_kernel(const float* x, int64_t R, int64_t D, int64_t x_stride, T* y) {
  GRID_STRIDE(i, R * D) {
    store(y + i, x[(i / D) * x_stride + i % D]);
  }
}

template <typename T>
__global__ void scale_columns_kernel(T* W, int64_t N, int64_t K, const float* g) {
  GRID_STRIDE(i, N * K) {
    store(W + i, load(W + i) * g[i % K]);
  }
}

__device__ uint64_t splitmix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

template <typename T>
__global__ void fill_normal_kernel(T* dst, int64_t n, float mean, float std, uint64_t key) {
  GRID_STRIDE(i, n) {
    // Box–Muller on two 24-bit uniforms; u1 in (0, 1] keeps the log finite.
    const uint64_t h = splitmix64(key + 2 * static_cast<uint64_t>(i));
    const uint64_t g = splitmix64(key + 2 * static_cast<uint64_t>(i) + 1);
    const float u1 = (static_cast<float>(h >> 40) + 1.0f) * 0x1.0p-24f;
    const float u2 = static_cast<float>(g >> 40) * 0x1.0p-24f;
    const float z = sqrtf(-2.0f * logf(u1)) * cospif(2.0f * u2);
    store(dst + i, mean + std * z);
  }
}

__global__ void fill_value_kernel(float* dst, int64_t n, float value) {
  GRID_STRIDE(i, n) {
    dst[i] = value;
  }
}

}  // namespace

void embedding_gather(const int32_t* d_ids, int64_t T, const void* table, WeightType type,
                      int64_t E, float* x, Stream s) {
  if (T * E == 0) return;
  if (type == WeightType::BF16) {
    gather_kernel<<<grid_for(T * E), kThreads, 0, s>>>(d_ids, T, static_cast<const bf16*>(table), E,
                                                       x);
  } else {
    gather_kernel<<<grid_for(T * E), kThreads, 0, s>>>(d_ids, T, static_cast<const float*>(table),
                                                       E, x);
  }
  XLSTM_CUDA_CHECK_LAUNCH();
}

void convert(const void* src, DType src_type, void* dst, WeightType dst_type, size_t count,
             Stream s) {
  const auto n = static_cast<int64_t>(count);
  if (n == 0) return;
  const bool to_bf16 = dst_type == WeightType::BF16;
  const unsigned grid = grid_for(n);
  switch (src_type) {
    case DType::F32:
      if (to_bf16) {
        convert_kernel<<<grid, kThreads, 0, s>>>(static_cast<const float*>(src),
                                                 static_cast<bf16*>(dst), n);
      } else {
        convert_kernel<<<grid, kThreads, 0, s>>>(static_cast<const float*>(src),
                                                 static_cast<float*>(dst), n);
      }
      break;
    case DType::BF16:
      if (to_bf16) {
        convert_kernel<<<grid, kThreads, 0, s>>>(static_cast<const bf16*>(src),
                                                 static_cast<bf16*>(dst), n);
      } else {
        convert_kernel<<<grid, kThreads, 0, s>>>(static_cast<const bf16*>(src),
                                                 static_cast<float*>(dst), n);
      }
      break;
    case DType::F16:
      convert_f16_kernel<<<grid, kThreads, 0, s>>>(static_cast<const __half*>(src), dst, to_bf16,
                                                   n);
      break;
    default:
      throw InvalidInput(tagged("cuda", "convert: " + dtype_name(src_type) + " is no float type"));
  }
  XLSTM_CUDA_CHECK_LAUNCH();
}

void copy_rows(const float* x, int64_t R, int64_t D, int64_t x_stride, void* y, WeightType y_type,
               Stream s) {
  if (R * D == 0) return;
  if (y_type == WeightType::BF16) {
    copy_rows_kernel<<<grid_for(R * D), kThreads, 0, s>>>(x, R, D, x_stride, static_cast<bf16*>(y));
  } else {
    copy_rows_kernel<<<grid_for(R * D), kThreads, 0, s>>>(x, R, D, x_stride,
                                                          static_cast<float*>(y));
  }
  XLSTM_CUDA_CHECK_LAUNCH();
}

void fill_normal(void* dst, WeightType type, size_t count, float mean, float std, uint64_t seed,
                 uint64_t stream_id, Stream s) {
  const auto n = static_cast<int64_t>(count);
  if (n == 0) return;
  // Streams far apart in the counter space: (seed, stream_id) never overlap for n < 2^40.
  const uint64_t key = (seed * 0x9e3779b97f4a7c15ull) ^ (stream_id << 41);
  if (type == WeightType::BF16) {
    fill_normal_kernel<<<grid_for(n), kThreads, 0, s>>>(static_cast<bf16*>(dst), n, mean, std, key);
  } else {
    fill_normal_kernel<<<grid_for(n), kThreads, 0, s>>>(static_cast<float*>(dst), n, mean, std,
                                                        key);
  }
  XLSTM_CUDA_CHECK_LAUNCH();
}

void scale_columns(void* W, WeightType type, int64_t N, int64_t K, const float* g, Stream s) {
  if (N * K == 0) return;
  if (type == WeightType::BF16) {
    scale_columns_kernel<<<grid_for(N * K), kThreads, 0, s>>>(static_cast<bf16*>(W), N, K, g);
  } else {
    scale_columns_kernel<<<grid_for(N * K), kThreads, 0, s>>>(static_cast<float*>(W), N, K, g);
  }
  XLSTM_CUDA_CHECK_LAUNCH();
}

void fill_value(float* dst, size_t count, float value, Stream s) {
  const auto n = static_cast<int64_t>(count);
  if (n == 0) return;
  fill_value_kernel<<<grid_for(n), kThreads, 0, s>>>(dst, n, value);
  XLSTM_CUDA_CHECK_LAUNCH();
}

}  // namespace xlstm::cuda
