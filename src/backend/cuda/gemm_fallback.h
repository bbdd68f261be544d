#pragma once
// A plain tiled GEMM with the Gemm::linear contract, for shapes cuBLASLt offers no algorithm for.
#include <cstdint>

#include "backend/cuda/api.h"
#include "core/matrix.h"

namespace xlstm::cuda {

void gemm_fallback(const void* x, int64_t M, int64_t K, const void* W, int64_t N, WeightType type,
                   const float* bias, float* y, bool accumulate, Stream s);

}  // namespace xlstm::cuda
