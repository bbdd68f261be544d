#pragma once
// y[M, N] (float32) = x[M, K] · W[N, K]ᵀ (+ bias[N]) (+ y when accumulating): the Linear layers,
// through cuBLASLt. x and W share one type: BF16 (float32 accumulate) or F32 (float32 arithmetic,
// TF32 off: the parity mode). Row-major, contiguous. Algorithms are chosen once per shape and kept.
#include <cstdint>
#include <memory>

#include "backend/cuda/api.h"
#include "core/matrix.h"

namespace xlstm::cuda {

class Gemm {
 public:
  Gemm();
  ~Gemm();
  Gemm(const Gemm&) = delete;
  Gemm& operator=(const Gemm&) = delete;

  void linear(const void* x, int64_t M, int64_t K, const void* W, int64_t N, WeightType type,
              const float* bias, float* y, bool accumulate, Stream s);
  // y[M, N] (bf16) = x · Wᵀ for bf16 x and W through cuBLASLt (float32 accumulation, one rounding
  // at the end); no bias. False, with nothing launched, when cuBLASLt offers no algorithm.
  bool linear_bf16_out(const void* x, int64_t M, int64_t K, const void* W, int64_t N, void* y,
                       Stream s);
  // out[i] (float32 [M, N]) = A[i] (bf16 [M, K]) · B[i] (bf16 [K, N]) for i < batch: row-major,
  // each operand a contiguous strided batch, float32 accumulation. Throws when cuBLASLt offers no
  // algorithm (16-byte aligned operands with K and N multiples of 8 always have one).
  void batched_bf16(const void* A, const void* B, float* out, int64_t batch, int64_t M, int64_t K,
                    int64_t N, Stream s);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace xlstm::cuda
