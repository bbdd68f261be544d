// Memory-bound bf16 GEMV / skinny GEMM (M ≤ 8): one warp per R consecutive output rows of W, 4
// warps per block. Each lane streams 16-byte pieces of those W rows (8 bf16, evict-first loads,
// U pieces per row in flight before the first use), reads the matching x pieces through L1 (x is
// small and shared by every warp), and accumulates R·M float32 dot products; warp shuffles reduce
// them and lanes 0 .. R·M−1 write one output each (bias and accumulate fused). R grows with M so
// that x reads from L1 stay at most two per W piece. Rows whose start is not 16-byte aligned
// (K % 8 ≠ 0, or unaligned pointers) take the scalar variant.
// Launched with programmatic dependent launch (Hopper): the blocks become resident and start
// streaming W while the preceding kernel (a norm, SwiGLU) still runs, and wait for it
// (griddepcontrol.wait) only before the first read of x or y. W does not depend on it.
#include <cstdlib>
#include <string>

#include "backend/cuda/common.cuh"
#include "backend/cuda/gemv.h"

namespace xlstm::cuda {

namespace {

constexpr int kWarps = 4;

__device__ __forceinline__ void unpack(uint32_t u, float& lo, float& hi) {
  lo = __uint_as_float(u << 16);
  hi = __uint_as_float(u & 0xffff0000u);
}

// Σ w_i·x_i over 8 bf16 pairs, in order, one fma each.
__device__ __forceinline__ float dot8(const uint4& w, const uint4& x) {
  const uint32_t wv[4] = {w.x, w.y, w.z, w.w}, xv[4] = {x.x, x.y, x.z, x.w};
  float acc = 0.0f;
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    float w0, w1, x0, x1;
    unpack(wv[i], w0, w1);
    unpack(xv[i], x0, x1);
    acc = fmaf(w0, x0, acc);
    acc = fmaf(w1, x1, acc);
  }
  return acc;
}

template <int M, int R, int U, bool Vec>
__global__ void __launch_bounds__(kWarps * 32)
    gemv_kernel(const bf16* __restrict__ x, int64_t K, const bf16* __restrict__ W, int64_t N,
                const float* __restrict__ bias, float* y, bool accumulate) {
  const int lane = threadIdx.x % 32;
  const int64_t n0 = (static_cast<int64_t>(blockIdx.x) * kWarps + threadIdx.x / 32) * R;
  if (n0 >= N) return;
  float acc[R][M];
#pragma unroll
  for (int r = 0; r < R; ++r)
#pragma unroll
    for (int m = 0; m < M; ++m) acc[r][m] = 0.0f;
  // Rows past N read row N − 1 (valid memory) and are not written.
  int64_t row[R];
#pragma unroll
  for (int r = 0; r < R; ++r) row[r] = min(n0 + r, N - 1);
  if constexpr (Vec) {
    const int64_t K8 = K / 8;
    const auto* W8 = reinterpret_cast<const uint4*>(W);
    const auto* x8 = reinterpret_cast<const uint4*>(x);
    uint4 wv[U][R];
    auto load_w = [&](int64_t base) {
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const int64_t i = base + u * 32;
#pragma unroll
        for (int r = 0; r < R; ++r) wv[u][r] = __ldcs(W8 + row[r] * K8 + min(i, K8 - 1));
      }
    };
    load_w(lane);  // before the wait: W is ready, x may not be
    wait_for_preceding_kernel();
    for (int64_t base = lane; base < K8; base += 32 * U) {
      if (base > lane) load_w(base);
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const int64_t i = base + u * 32;
        if (i < K8) {
#pragma unroll
          for (int m = 0; m < M; ++m) {
            const uint4 xv = __ldg(x8 + m * K8 + i);
#pragma unroll
            for (int r = 0; r < R; ++r) acc[r][m] += dot8(wv[u][r], xv);
          }
        }
      }
    }
  } else {
    wait_for_preceding_kernel();
    for (int64_t k = lane; k < K; k += 32) {
      float wv[R];
#pragma unroll
      for (int r = 0; r < R; ++r) wv[r] = __bfloat162float(W[row[r] * K + k]);
#pragma unroll
      for (int m = 0; m < M; ++m) {
        const float xv = __bfloat162float(x[m * K + k]);
#pragma unroll
        for (int r = 0; r < R; ++r) acc[r][m] = fmaf(wv[r], xv, acc[r][m]);
      }
    }
  }
#pragma unroll
  for (int r = 0; r < R; ++r)
#pragma unroll
    for (int m = 0; m < M; ++m) acc[r][m] = warp_sum(acc[r][m]);
#pragma unroll
  for (int r = 0; r < R; ++r) {
#pragma unroll
    for (int m = 0; m < M; ++m) {
      const int64_t n = n0 + r;
      if (lane == r * M + m && n < N) {
        float v = acc[r][m] + (bias != nullptr ? bias[n] : 0.0f);
        if (accumulate) v += y[m * N + n];
        y[m * N + n] = v;
      }
    }
  }
}

// Launches with programmatic stream serialization where the device has it (sm_90+).
template <int M, int R, int U, bool Vec>
void launch_kernel(const bf16* x, int64_t K, const bf16* W, int64_t N, const float* bias, float* y,
                   bool accumulate, Stream s) {
  // Only where the code running is sm_90 or newer: the wait compiles to nothing in older targets
  // (e.g. the compute_80 PTX JIT-compiled for a newer GPU), and the launch must then be ordinary.
  static const bool pdl = [] {
    cudaFuncAttributes a{};
    XLSTM_CUDA_CHECK(cudaFuncGetAttributes(&a, gemv_kernel<M, R, U, Vec>));
    const char* e = std::getenv("XLSTM_PDL");
    return a.binaryVersion >= 90 && a.ptxVersion >= 90 &&
           !(e != nullptr && std::string(e) == "off");
  }();
  cudaLaunchConfig_t cfg{};
  cfg.gridDim = dim3(blocks_for(N, kWarps * R));
  cfg.blockDim = dim3(kWarps * 32);
  cfg.stream = s;
  cudaLaunchAttribute attr{};
  attr.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr.val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = &attr;
  cfg.numAttrs = pdl ? 1 : 0;
  XLSTM_CUDA_CHECK(
      cudaLaunchKernelEx(&cfg, gemv_kernel<M, R, U, Vec>, x, K, W, N, bias, y, accumulate));
}

template <int M, int R, int U>
void launch_vec(const bf16* x, int64_t K, const bf16* W, int64_t N, const float* bias, float* y,
                bool accumulate, Stream s) {
  launch_kernel<M, R, U, true>(x, K, W, N, bias, y, accumulate, s);
}

// XLSTM_GEMV_M1=R,U picks another rows-per-warp / pieces-in-flight pair for one-row GEMVs
// (benchmarking); unknown pairs keep the default 1,4.
int m1_variant() {
  static const int v = [] {
    const char* e = std::getenv("XLSTM_GEMV_M1");
    if (e == nullptr) return 0;
    const std::string s(e);
    if (s == "1,8") return 1;
    if (s == "2,4") return 2;
    if (s == "2,2") return 3;
    if (s == "4,2") return 4;
    if (s == "1,2") return 5;
    return 0;
  }();
  return v;
}

template <int M>
void launch(const bf16* x, int64_t K, const bf16* W, int64_t N, const float* bias, float* y,
            bool accumulate, bool vec, Stream s) {
  constexpr int R = M <= 2 ? 1 : (M <= 4 ? 2 : 4);
  constexpr int U = R == 1 ? 4 : 2;
  if constexpr (M == 1) {
    if (vec) {
      switch (m1_variant()) {
        case 1:
          return launch_vec<1, 1, 8>(x, K, W, N, bias, y, accumulate, s);
        case 2:
          return launch_vec<1, 2, 4>(x, K, W, N, bias, y, accumulate, s);
        case 3:
          return launch_vec<1, 2, 2>(x, K, W, N, bias, y, accumulate, s);
        case 4:
          return launch_vec<1, 4, 2>(x, K, W, N, bias, y, accumulate, s);
        case 5:
          return launch_vec<1, 1, 2>(x, K, W, N, bias, y, accumulate, s);
        default:
          break;
      }
    }
  }
  if (vec) {
    launch_kernel<M, R, U, true>(x, K, W, N, bias, y, accumulate, s);
  } else {
    launch_kernel<M, R, 1, false>(x, K, W, N, bias, y, accumulate, s);
  }
}

}  // namespace

void gemv_bf16(const void* x, int64_t M, int64_t K, const void* W, int64_t N, const float* bias,
               float* y, bool accumulate, Stream s) {
  if (M == 0 || N == 0) return;
  const auto* xb = static_cast<const bf16*>(x);
  const auto* wb = static_cast<const bf16*>(W);
  const bool vec = K % 8 == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0 &&
                   reinterpret_cast<uintptr_t>(W) % 16 == 0;
  using Launch = void (*)(const bf16*, int64_t, const bf16*, int64_t, const float*, float*, bool,
                          bool, Stream);
  static constexpr Launch by_rows[] = {launch<1>, launch<2>, launch<3>, launch<4>,
                                       launch<5>, launch<6>, launch<7>, launch<8>};
  if (M > kGemvMaxRows) throw InvalidInput("[cuda] gemv_bf16: more than 8 rows");
  by_rows[M - 1](xb, K, wb, N, bias, y, accumulate, vec, s);
  XLSTM_CUDA_CHECK_LAUNCH();
}

}  // namespace xlstm::cuda
