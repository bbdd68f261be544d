#include "ops/linear.h"

#include <cblas.h>

namespace xlstm {

void linear(const float* x, int64_t M, int64_t K, const float* W, int64_t N, const float* bias, float* y) {
  if (M == 1) {
    cblas_sgemv(CblasRowMajor, CblasNoTrans, static_cast<blasint>(N), static_cast<blasint>(K), 1.0f, W,
                static_cast<blasint>(K), x, 1, 0.0f, y, 1);
  } else {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(M), static_cast<blasint>(N),
                static_cast<blasint>(K), 1.0f, x, static_cast<blasint>(K), W, static_cast<blasint>(K), 0.0f, y,
                static_cast<blasint>(N));
  }
  if (bias != nullptr) {
#pragma omp parallel for if (M * N > (1 << 16))
    for (int64_t m = 0; m < M; ++m) {
      for (int64_t n = 0; n < N; ++n) y[m * N + n] += bias[n];
    }
  }
}

}  // namespace xlstm
