#include "ops/linear.h"

#include <cblas.h>

#include <algorithm>
#include <vector>

#include "xlstm/error.h"

namespace xlstm {

namespace {

void add_bias(float* y, int64_t M, int64_t N, const float* bias) {
  if (bias == nullptr) return;
#pragma omp parallel for if (M * N > (1 << 16))
  for (int64_t m = 0; m < M; ++m) {
    for (int64_t n = 0; n < N; ++n) y[m * N + n] += bias[n];
  }
}

// Rows of W as float32 from bf16 bits: a shift, then an FMA. 16 independent accumulators so the
// compiler vectorizes without reassociating (keeps results independent of -ffast-math).
constexpr int kLanes = 16;

void gemv_bf16_rows(const float* x, int64_t K, const uint16_t* W, int64_t n0, int64_t n1,
                    float* y) {
  const int64_t K16 = K / kLanes * kLanes;
  for (int64_t n = n0; n < n1; ++n) {
    const uint16_t* w = W + n * K;
    float acc[kLanes] = {};
    for (int64_t k = 0; k < K16; k += kLanes) {
      for (int j = 0; j < kLanes; ++j) acc[j] += bf16_to_f32(w[k + j]) * x[k + j];
    }
    float s = 0.0f;
    for (int j = 0; j < kLanes; ++j) s += acc[j];
    for (int64_t k = K16; k < K; ++k) s += bf16_to_f32(w[k]) * x[k];
    y[n] = s;
  }
}

// Few input rows: stream the weights once in blocks of 64 rows; the block stays in L2 across the M
// inputs.
void small_m_bf16(const float* x, int64_t M, int64_t K, const Matrix& W, float* y) {
  const int64_t N = W.rows;
#pragma omp parallel for schedule(static)
  for (int64_t blk = 0; blk < (N + 63) / 64; ++blk) {
    const int64_t n0 = blk * 64, n1 = std::min(N, n0 + 64);
    for (int64_t m = 0; m < M; ++m) gemv_bf16_rows(x + m * K, K, W.bf16.data(), n0, n1, y + m * N);
  }
}

}  // namespace

void linear_f32(const float* x, int64_t M, int64_t K, const float* W, int64_t N, const float* bias,
                float* y) {
  if (M == 1) {
    cblas_sgemv(CblasRowMajor, CblasNoTrans, static_cast<blasint>(N), static_cast<blasint>(K), 1.0f,
                W, static_cast<blasint>(K), x, 1, 0.0f, y, 1);
  } else {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(M),
                static_cast<blasint>(N), static_cast<blasint>(K), 1.0f, x, static_cast<blasint>(K),
                W, static_cast<blasint>(K), 0.0f, y, static_cast<blasint>(N));
  }
  add_bias(y, M, N, bias);
}

void linear(const float* x, int64_t M, int64_t K, const Matrix& W, const float* bias, float* y) {
  if (W.cols != K) {
    throw Error(tagged("linear", "input has " + std::to_string(K) + " features, weight expects " +
                                     std::to_string(W.cols)));
  }
  const int64_t N = W.rows;
  if (W.type == WeightType::F32) return linear_f32(x, M, K, W.f32.data(), N, bias, y);
  if (M <= 8) {
    small_m_bf16(x, M, K, W, y);
  } else {
    // Widen a block of weight rows to float32 (amortized over M rows), then one sgemm per block.
    constexpr int64_t kBlockRows = 256;
    static thread_local std::vector<float> wide;
    wide.resize(static_cast<size_t>(std::min(N, kBlockRows) * K));
    for (int64_t n0 = 0; n0 < N; n0 += kBlockRows) {
      const int64_t nb = std::min(kBlockRows, N - n0);
      W.rows_f32(n0, nb, wide.data());
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(M),
                  static_cast<blasint>(nb), static_cast<blasint>(K), 1.0f, x,
                  static_cast<blasint>(K), wide.data(), static_cast<blasint>(K), 0.0f, y + n0,
                  static_cast<blasint>(N));
    }
  }
  add_bias(y, M, N, bias);
}

}  // namespace xlstm
