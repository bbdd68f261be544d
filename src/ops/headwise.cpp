#include "ops/headwise.h"

#include <cblas.h>

#include <algorithm>

#include "core/cpu_dispatch.h"
#include "ops/linear.h"

namespace xlstm {

namespace {
// Up to this many rows (tokens), wide blocks run as GEMVs that read the weights once (as
// linear_f32's few-row path); more go to one GEMM per block.
constexpr int64_t kFewRows = 8;

// One token, every head: yr[h·O + o] = b[h·O + o] + Σ_d xr[h·I + d] · W[h·O + o, d].
XLSTM_CPU_KERNEL void headwise_row(const float* xr, int64_t NH, int64_t I, int64_t O,
                                   const float* W, const float* b, float* yr) {
  for (int64_t h = 0; h < NH; ++h) {
    for (int64_t o = 0; o < O; ++o) {
      const float* wr = W + (h * O + o) * I;
      float acc = b != nullptr ? b[h * O + o] : 0.0f;
      for (int64_t d = 0; d < I; ++d) acc += xr[h * I + d] * wr[d];
      yr[h * O + o] = acc;
    }
  }
}
}  // namespace

void headwise_linear(const float* x, int64_t x_stride, int64_t T, int64_t NH, int64_t I, int64_t O,
                     const float* W, const float* b, float* y, int64_t y_stride) {
  if (I >= 32 && T > kFewRows) {  // wide blocks, many rows: one GEMM per block
    for (int64_t h = 0; h < NH; ++h) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<blasint>(T),
                  static_cast<blasint>(O), static_cast<blasint>(I), 1.0f, x + h * I,
                  static_cast<blasint>(x_stride), W + h * O * I, static_cast<blasint>(I), 0.0f,
                  y + h * O, static_cast<blasint>(y_stride));
    }
    if (b != nullptr) {
#pragma omp parallel for if (T * NH * O > (1 << 15))
      for (int64_t t = 0; t < T; ++t)
        for (int64_t j = 0; j < NH * O; ++j) y[t * y_stride + j] += b[j];
    }
    return;
  }
  if (I >= 16) {  // decode (few rows), wide blocks: each block's rows as GEMVs, pieces of 64
    // rows over the threads, every token's row through a piece while it is in cache (the weights
    // read once per call, not per token; no GEMM packing)
    constexpr int64_t kPiece = 64;
    const int64_t pieces = (O + kPiece - 1) / kPiece;
#pragma omp parallel for schedule(static) if (T * NH * O * I > (1 << 16))
    for (int64_t p = 0; p < NH * pieces; ++p) {
      const int64_t h = p / pieces, o0 = p % pieces * kPiece, o1 = std::min(O, o0 + kPiece);
      for (int64_t t = 0; t < T; ++t) {
        float* yr = y + t * y_stride + h * O;
        gemv_rows_f32(x + t * x_stride + h * I, I, W + h * O * I, o0, o1, yr);
        if (b != nullptr)
          for (int64_t o = o0; o < o1; ++o) yr[o] += b[h * O + o];
      }
    }
    return;
  }
#pragma omp parallel for if (T * NH * O * I > (1 << 16))
  for (int64_t t = 0; t < T; ++t) headwise_row(x + t * x_stride, NH, I, O, W, b, y + t * y_stride);
}

}  // namespace xlstm
