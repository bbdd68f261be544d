// The original family's small kernels: group LayerNorm, causal conv, headwise linear, gates.
#include "backend/cuda/common.cuh"
#include "backend/cuda/family_ops.h"

namespace xlstm::cuda {

namespace {

// One block per (row, group): decode rows are few and wide (one warp per row left a token's
// norms latency-bound).
template <typename T>
__global__ void group_layer_norm_kernel(const float* x, int64_t G, int64_t D, int64_t x_stride,
                                        const float* w, float eps, T* y, bool accumulate) {
  const int64_t t = blockIdx.x, gidx = blockIdx.y;
  const float* xr = x + t * x_stride + gidx * D;
  float sum = 0.0f;
  for (int64_t d = threadIdx.x; d < D; d += blockDim.x) sum += xr[d];
  const float mean = block_sum(sum) / static_cast<float>(D);
  float var = 0.0f;
  for (int64_t d = threadIdx.x; d < D; d += blockDim.x) var += (xr[d] - mean) * (xr[d] - mean);
  const float r = rsqrtf(block_sum(var) / static_cast<float>(D) + eps);
  T* yr = y + t * G * D + gidx * D;
  const float* wr = w + gidx * D;
  for (int64_t d = threadIdx.x; d < D; d += blockDim.x) {
    const float v = (xr[d] - mean) * r * wr[d];
    if constexpr (std::is_same_v<T, float>) {
      yr[d] = accumulate ? yr[d] + v : v;
    } else {
      store(yr + d, v);
    }
  }
}

__global__ void causal_conv_kernel(const float* x, int64_t x_stride, int64_t B, int64_t S,
                                   int64_t F, const float* w, const float* bias, int64_t KS,
                                   float* state, float* y, bool silu) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= B * F) return;
  const int64_t b = i / F, f = i % F;
  float* st = state + b * KS * F + f;  // window entry j at st[j·F], newest last
  float win[16];                       // the window in registers (KS ≤ 16)
  for (int64_t j = 0; j < KS; ++j) win[j] = st[j * F];
  const float bf = bias != nullptr ? bias[f] : 0.0f;
  for (int64_t t = 0; t < S; ++t) {
    for (int64_t j = 0; j + 1 < KS; ++j) win[j] = win[j + 1];
    win[KS - 1] = x[(b * S + t) * x_stride + f];
    float acc = bf;
    for (int64_t j = 0; j < KS; ++j) acc += w[f * KS + j] * win[j];
    y[(b * S + t) * F + f] = silu ? acc * sigmoid(acc) : acc;
  }
  for (int64_t j = 0; j < KS; ++j) st[j * F] = win[j];
}

__global__ void headwise_kernel(const float* x, int64_t x_stride, int64_t T, int64_t NH, int64_t I,
                                int64_t O, const float* W, const float* b, float* y,
                                int64_t y_stride) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= T * NH * O) return;
  const int64_t t = i / (NH * O), col = i % (NH * O), h = col / O;
  const float* xr = x + t * x_stride + h * I;
  const float* wr = W + col * I;
  float acc = b != nullptr ? b[col] : 0.0f;
  for (int64_t d = 0; d < I; ++d) acc += xr[d] * wr[d];
  y[t * y_stride + col] = acc;
}

__global__ void scale_two_blocks_kernel(float* x, int64_t T, int64_t stride, int64_t n,
                                        float scale) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= T * 2 * n) return;
  const int64_t t = i / (2 * n), j = i % (2 * n);
  float* p = x + t * stride + j;
  *p = j < n ? *p * scale : *p / scale;
}

__device__ float activate(float x, Activation a) {
  switch (a) {
    case Activation::Gelu:
      return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    case Activation::Relu:
      return fmaxf(x, 0.0f);
    case Activation::ReluSquared:
      return fmaxf(x, 0.0f) * fmaxf(x, 0.0f);
    case Activation::Sigmoid:
      return sigmoid(x);
    case Activation::Swish:
      return x * sigmoid(x);
    case Activation::Selu:
      return 1.0507009873554805f * (x > 0 ? x : 1.6732632423543772f * expm1f(x));
  }
  return x;
}

template <typename T>
__global__ void gated_activation_kernel(const float* gu, int64_t T_, int64_t F, Activation a,
                                        T* out) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= T_ * F) return;
  const int64_t t = i / F, j = i % F;
  store(out + i, activate(gu[t * 2 * F + j], a) * gu[t * 2 * F + F + j]);
}

template <typename T>
__global__ void mlstm_v1_output_kernel(const float* hn, const float* c, const float* skip,
                                       const float* z, int64_t z_stride, int64_t T_, int64_t I,
                                       T* out) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= T_ * I) return;
  const int64_t t = i / I, j = i % I;
  const float zj = z[t * z_stride + j];
  store(out + i, (hn[i] + skip[j] * c[i]) * zj * sigmoid(zj));
}

__global__ void add_kernel(float* dst, const float* src, int64_t n) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i < n) dst[i] += src[i];
}

constexpr int kThreads = 256;

}  // namespace

void group_layer_norm(const float* x, int64_t T, int64_t G, int64_t D, int64_t x_stride,
                      const float* w, float eps, void* y, WeightType y_type, bool accumulate,
                      Stream s) {
  if (T == 0) return;
  const dim3 grid(static_cast<unsigned>(T), static_cast<unsigned>(G));
  const unsigned threads = threads_for_row(D, 4);  // a whole number of warps, ≤ 1024
  if (y_type == WeightType::BF16) {
    group_layer_norm_kernel<<<grid, threads, 0, s>>>(x, G, D, x_stride, w, eps,
                                                     static_cast<bf16*>(y), false);
  } else {
    group_layer_norm_kernel<<<grid, threads, 0, s>>>(x, G, D, x_stride, w, eps,
                                                     static_cast<float*>(y), accumulate);
  }
  XLSTM_CUDA_CHECK_LAUNCH();
}

void causal_conv1d(const float* x, int64_t x_stride, int64_t B, int64_t S, int64_t F,
                   const float* w, const float* bias, int64_t KS, float* state, float* y, bool silu,
                   Stream s) {
  if (KS < 1 || KS > 16) throw Error(tagged("cuda", "causal conv: kernel size must be in [1, 16]"));
  causal_conv_kernel<<<blocks_for(B * F, kThreads), kThreads, 0, s>>>(x, x_stride, B, S, F, w, bias,
                                                                      KS, state, y, silu);
  XLSTM_CUDA_CHECK_LAUNCH();
}

void headwise_linear(const float* x, int64_t x_stride, int64_t T, int64_t NH, int64_t I, int64_t O,
                     const float* W, const float* b, float* y, int64_t y_stride, Stream s) {
  headwise_kernel<<<blocks_for(T * NH * O, kThreads), kThreads, 0, s>>>(x, x_stride, T, NH, I, O, W,
                                                                        b, y, y_stride);
  XLSTM_CUDA_CHECK_LAUNCH();
}

void scale_two_blocks(float* x, int64_t T, int64_t stride, int64_t n, float scale, Stream s) {
  scale_two_blocks_kernel<<<blocks_for(T * 2 * n, kThreads), kThreads, 0, s>>>(x, T, stride, n,
                                                                               scale);
  XLSTM_CUDA_CHECK_LAUNCH();
}

void gated_activation(const float* gate_up, int64_t T, int64_t F, Activation a, void* out,
                      WeightType out_type, Stream s) {
  if (out_type == WeightType::BF16) {
    gated_activation_kernel<<<blocks_for(T * F, kThreads), kThreads, 0, s>>>(
        gate_up, T, F, a, static_cast<bf16*>(out));
  } else {
    gated_activation_kernel<<<blocks_for(T * F, kThreads), kThreads, 0, s>>>(
        gate_up, T, F, a, static_cast<float*>(out));
  }
  XLSTM_CUDA_CHECK_LAUNCH();
}

void mlstm_v1_output(const float* hn, const float* c, const float* skip, const float* z,
                     int64_t z_stride, int64_t T, int64_t I, void* out, WeightType out_type,
                     Stream s) {
  if (out_type == WeightType::BF16) {
    mlstm_v1_output_kernel<<<blocks_for(T * I, kThreads), kThreads, 0, s>>>(
        hn, c, skip, z, z_stride, T, I, static_cast<bf16*>(out));
  } else {
    mlstm_v1_output_kernel<<<blocks_for(T * I, kThreads), kThreads, 0, s>>>(
        hn, c, skip, z, z_stride, T, I, static_cast<float*>(out));
  }
  XLSTM_CUDA_CHECK_LAUNCH();
}

void add_inplace(float* dst, const float* src, int64_t n, Stream s) {
  add_kernel<<<blocks_for(n, kThreads), kThreads, 0, s>>>(dst, src, n);
  XLSTM_CUDA_CHECK_LAUNCH();
}

}  // namespace xlstm::cuda
