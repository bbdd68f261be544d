// Memory-bound bf16 GEMV / skinny GEMM (M ≤ 8): one warp per R consecutive output rows of W, 4
// warps per block. Each lane streams 16-byte pieces of those W rows (8 bf16, evict-first loads,
// U pieces per row in flight before the first use), reads the matching x pieces through L1 (x is
// small and shared by every warp), and accumulates R·M float32 dot products; warp shuffles reduce
// them and lanes 0 .. R·M−1 write one output each (bias and accumulate fused). R grows with M so
// that x reads from L1 stay at most two per W piece. Rows whose start is not 16-byte aligned
// (K % 8 ≠ 0, or unaligned pointers) take the scalar variant.
// Decode's neighbours are fused where they cost no extra pass: every warp reads all of x anyway,
// so it also sums x² for the RMS norm (applied to the dot products at the end, Σ w·(x·r) = r·Σ w·x;
// the norm's weight is folded into W at load, and x is the residual stream's bf16 copy, which the
// residual GEMVs write next to the float32 x), and a warp can own a SwiGLU pair (gate row n and up
// row F + n) and write SiLU(g)·u.
// Launched with programmatic dependent launch (Hopper): the blocks become resident and start
// streaming W while the preceding kernel still runs, and wait for it (griddepcontrol.wait) only
// before the first read of x or y. W does not depend on it. Every GEMV lets its successor launch
// early too, so back-to-back GEMVs overlap one's tail with the next one's first loads.
#include <algorithm>
#include <cstdlib>
#include <string>

#include "backend/cuda/common.cuh"
#include "backend/cuda/gemv.h"
#include "backend/cuda/pdl_launch.cuh"
#include "core/env_settings.h"

namespace xlstm::cuda {

namespace {

constexpr int kWarps = 4;

__device__ __forceinline__ void unpack(uint32_t u, float& lo, float& hi) {
  lo = __uint_as_float(u << 16);
  hi = __uint_as_float(u & 0xffff0000u);
}

// What the kernel reads as x and writes.
enum class In {
  Bf16,    // x [M, K] bf16, as it is
  RmsBf16  // x [M, K] bf16, RMS-normalised on the fly: x · rsqrt(mean(x²) + eps)
};
enum class Out {
  F32,        // y [M, N] = acc (+ bias) (+ y), then cap · tanh(y / cap) where cap > 0
  SwiGluBf16  // act [M, N] bf16 = SiLU(g) · u, g | u the rows n and N + n of W [2N, K] (+ bias)
};

struct Args {
  const void* x;
  int64_t K;
  float norm_eps;
  const bf16* W;
  int64_t N;
  const float* bias;
  float* y;
  bool accumulate;
  float cap;
  bf16* act;
  bf16* y_bf16;  // Out::F32: also y rounded to bf16 (the next fused GEMV's input), or null
};

// Σ w_i·x_i over 8 bf16 weights and 8 float32 inputs, in order.
__device__ __forceinline__ float dot8(const uint4& w, const float (&x)[8]) {
  const uint32_t wv[4] = {w.x, w.y, w.z, w.w};
  float acc = 0.0f;
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    float w0, w1;
    unpack(wv[i], w0, w1);
    acc = fmaf(w0, x[2 * i], acc);
    acc = fmaf(w1, x[2 * i + 1], acc);
  }
  return acc;
}

// The 8 inputs of piece i of row m as float32; the RMS form also adds their squares to ss.
template <In I>
__device__ __forceinline__ void load_x8(const Args& a, int64_t m, int64_t i, float (&xf)[8],
                                        float& ss) {
  const uint4 u = __ldg(reinterpret_cast<const uint4*>(a.x) + m * (a.K / 8) + i);
  const uint32_t uv[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
  for (int j = 0; j < 4; ++j) unpack(uv[j], xf[2 * j], xf[2 * j + 1]);
  if constexpr (I == In::RmsBf16) {
#pragma unroll
    for (int j = 0; j < 8; ++j) ss = fmaf(xf[j], xf[j], ss);
  }
}

// RW = R weight rows per warp (Out::F32) or R gate rows and their R up rows (Out::SwiGluBf16).
template <int M, int R, int U, bool Vec, In I, Out O>
__global__ void __launch_bounds__(kWarps * 32) gemv_kernel(Args a) {
  allow_dependent_launch();  // a following GEMV may start streaming its weights
  constexpr int RW = O == Out::SwiGluBf16 ? 2 * R : R;
  const int lane = threadIdx.x % 32;
  const int64_t K = a.K, N = a.N;
  const int64_t n0 = (static_cast<int64_t>(blockIdx.x) * kWarps + threadIdx.x / 32) * R;
  if (n0 >= N) return;
  float acc[RW][M], ss[M];
#pragma unroll
  for (int m = 0; m < M; ++m) {
    ss[m] = 0.0f;
#pragma unroll
    for (int r = 0; r < RW; ++r) acc[r][m] = 0.0f;
  }
  // Rows past N read row N − 1 (valid memory) and are not written.
  int64_t row[RW];
#pragma unroll
  for (int r = 0; r < RW; ++r) row[r] = (r < R ? 0 : N) + min(n0 + r % R, N - 1);
  if constexpr (Vec) {
    const int64_t K8 = K / 8;
    const auto* W8 = reinterpret_cast<const uint4*>(a.W);
    uint4 wv[U][RW];
    auto load_w = [&](int64_t base) {
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const int64_t i = base + u * 32;
#pragma unroll
        for (int r = 0; r < RW; ++r) wv[u][r] = __ldcs(W8 + row[r] * K8 + min(i, K8 - 1));
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
            float xf[8];
            load_x8<I>(a, m, i, xf, ss[m]);
#pragma unroll
            for (int r = 0; r < RW; ++r) acc[r][m] += dot8(wv[u][r], xf);
          }
        }
      }
    }
  } else {  // scalar loads (K % 8 ≠ 0 or unaligned rows): plain bf16 in, float32 out only
    static_assert(I == In::Bf16 && O == Out::F32, "the fused forms need 16-byte rows");
    wait_for_preceding_kernel();
    const auto* x = static_cast<const bf16*>(a.x);
    for (int64_t k = lane; k < K; k += 32) {
      float wv[R];
#pragma unroll
      for (int r = 0; r < R; ++r) wv[r] = __bfloat162float(a.W[row[r] * K + k]);
#pragma unroll
      for (int m = 0; m < M; ++m) {
        const float xv = __bfloat162float(x[m * K + k]);
#pragma unroll
        for (int r = 0; r < R; ++r) acc[r][m] = fmaf(wv[r], xv, acc[r][m]);
      }
    }
  }
  float scale[M];  // the RMS norm's 1 / rms per row, applied to the sums
#pragma unroll
  for (int m = 0; m < M; ++m) {
#pragma unroll
    for (int r = 0; r < RW; ++r) acc[r][m] = warp_sum(acc[r][m]);
    scale[m] = 1.0f;
    if constexpr (I != In::Bf16)
      scale[m] = 1.0f / sqrtf(warp_sum(ss[m]) / static_cast<float>(K) + a.norm_eps);
  }
#pragma unroll
  for (int r = 0; r < R; ++r) {
#pragma unroll
    for (int m = 0; m < M; ++m) {
      const int64_t n = n0 + r;
      if (lane != r * M + m || n >= N) continue;
      const float* b = a.bias;
      if constexpr (O == Out::F32) {
        float v = acc[r][m] * scale[m] + (b != nullptr ? b[n] : 0.0f);
        if (a.accumulate) v += a.y[m * N + n];
        if (a.cap > 0.0f) v = a.cap * tanhf(v / a.cap);
        a.y[m * N + n] = v;
        if (a.y_bf16 != nullptr) a.y_bf16[m * N + n] = __float2bfloat16(v);
      } else {
        const float g = acc[r][m] * scale[m] + (b != nullptr ? b[n] : 0.0f);
        const float u = acc[R + r][m] * scale[m] + (b != nullptr ? b[N + n] : 0.0f);
        a.act[m * N + n] = __float2bfloat16(g * sigmoid(g) * u);
      }
    }
  }
}

// Launched programmatically where the device has it (pdl_launch.cuh).
template <int M, int R, int U, bool Vec, In I, Out O>
void launch_kernel(const Args& a, Stream s) {
  static const bool pdl = pdl_available(gemv_kernel<M, R, U, Vec, I, O>);
  launch_maybe_pdl(pdl, gemv_kernel<M, R, U, Vec, I, O>, dim3(blocks_for(a.N, kWarps * R)),
                   dim3(kWarps * 32), s, a);
}

// XLSTM_GEMV_M1=R,U picks another rows-per-warp / pieces-in-flight pair for the plain one-row
// GEMV (benchmarking): the index of the pair in this list, 1,4 (0) by default.
int m1_variant() {
  static const int v = env_choice("XLSTM_GEMV_M1", 0, {"1,4", "1,8", "2,4", "2,2", "4,2", "1,2"});
  return v;
}

template <int M, In I, Out O>
void launch(const Args& a, bool vec, Stream s) {
  constexpr int R = M <= 2 ? 1 : (M <= 4 ? 2 : 4);
  constexpr int U = R == 1 ? 4 : 2;
  if constexpr (I == In::Bf16 && O == Out::F32) {
    if (!vec) return launch_kernel<M, R, 1, false, I, O>(a, s);
    if constexpr (M == 1) {
      switch (m1_variant()) {
        case 1:
          return launch_kernel<1, 1, 8, true, I, O>(a, s);
        case 2:
          return launch_kernel<1, 2, 4, true, I, O>(a, s);
        case 3:
          return launch_kernel<1, 2, 2, true, I, O>(a, s);
        case 4:
          return launch_kernel<1, 4, 2, true, I, O>(a, s);
        case 5:
          return launch_kernel<1, 1, 2, true, I, O>(a, s);
        default:
          break;
      }
    }
  }
  launch_kernel<M, R, U, true, I, O>(a, s);
}

template <In I, Out O>
void launch_rows(int64_t M, const Args& a, bool vec, Stream s) {
  using Launch = void (*)(const Args&, bool, Stream);
  static constexpr Launch by_rows[] = {launch<1, I, O>, launch<2, I, O>, launch<3, I, O>,
                                       launch<4, I, O>, launch<5, I, O>, launch<6, I, O>,
                                       launch<7, I, O>, launch<8, I, O>};
  if (M < 1 || M > kGemvMaxRows) throw InvalidInput("[cuda] gemv: 1 to 8 rows");
  by_rows[M - 1](a, vec, s);
}

}  // namespace

void read_gemv_settings() {
  gemv_row_limit();
  m1_variant();
}

int64_t gemv_row_limit() {
  static const int64_t rows = [] {
    const char* e = std::getenv("XLSTM_GEMV");
    if (e != nullptr && std::string(e) == "off") return int64_t{0};
    return int64_t{env_count("XLSTM_GEMV", kGemvDefaultRows, 0, kGemvMaxRows)};
  }();
  return rows;
}

void gemv_bf16(const void* x, int64_t M, int64_t K, const void* W, int64_t N, const float* bias,
               float* y, bool accumulate, Stream s, void* y_bf16) {
  if (M == 0 || N == 0) return;
  const Args a{x,          K,    0.0f,    static_cast<const bf16*>(W), N, bias, y,
               accumulate, 0.0f, nullptr, static_cast<bf16*>(y_bf16)};
  const bool vec = K % 8 == 0 && aligned16(x) && aligned16(W);
  launch_rows<In::Bf16, Out::F32>(M, a, vec, s);
}

bool gemv_bf16_rms(const void* x, int64_t M, int64_t K, float eps, const void* W, int64_t N,
                   const float* bias, float* y, bool accumulate, float cap, Stream s) {
  if (K % 8 != 0 || !aligned16(x) || !aligned16(W)) return false;
  if (M == 0 || N == 0) return true;
  const Args a{x,   K,       eps,    static_cast<const bf16*>(W), N, bias, y, accumulate,
               cap, nullptr, nullptr};
  launch_rows<In::RmsBf16, Out::F32>(M, a, true, s);
  return true;
}

bool gemv_bf16_rms_swiglu(const void* x, int64_t M, int64_t K, float eps, const void* W, int64_t F,
                          const float* bias, void* act, Stream s) {
  if (K % 8 != 0 || !aligned16(x) || !aligned16(W)) return false;
  if (M == 0 || F == 0) return true;
  const Args a{x,       K,     eps,  static_cast<const bf16*>(W), F,      bias,
               nullptr, false, 0.0f, static_cast<bf16*>(act),     nullptr};
  launch_rows<In::RmsBf16, Out::SwiGluBf16>(M, a, true, s);
  return true;
}

}  // namespace xlstm::cuda
