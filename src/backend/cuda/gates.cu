// Soft cap cap·tanh(x/cap) on a column window, in place: the i/f gate pre-activations inside the
// fused projection rows (spec §1.4) and the output logits.
#include "backend/cuda/common.cuh"
#include "backend/cuda/ops.h"

namespace xlstm::cuda {

namespace {

__global__ void soft_cap_kernel(float* x, int64_t rows, int64_t cols, int64_t col0, int64_t ncols,
                                float cap) {
  const int64_t n = rows * ncols;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float* p = x + (i / ncols) * cols + col0 + i % ncols;
    *p = cap * tanhf(*p / cap);
  }
}

}  // namespace

void soft_cap_columns(float* x, int64_t rows, int64_t cols, int64_t col0, int64_t ncols, float cap,
                      Stream s) {
  const int64_t n = rows * ncols;
  if (n == 0) return;
  const unsigned grid = std::min<unsigned>(blocks_for(n, 256), 65535u);
  soft_cap_kernel<<<grid, 256, 0, s>>>(x, rows, cols, col0, ncols, cap);
  XLSTM_CUDA_CHECK_LAUNCH();
}

}  // namespace xlstm::cuda
