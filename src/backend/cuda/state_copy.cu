// One sequence of a state into another state (or another row of the same): every block's
// tensors in one launch. A server moves sequences at every join, finish and cache store; with a
// cudaMemcpy per tensor that was 4 calls per block (128 for the 7B shape) per move, milliseconds
// of host time per prefill step.
#include "backend/cuda/common.cuh"
#include "backend/cuda/state_copy.h"

namespace xlstm::cuda {

namespace {

// blockIdx.y strides over the tensors (a grid's y is at most 65,535; a family stack can have
// more tensors); the n floats of sequence b start at base + offset + b · n.
__global__ void copy_sequence_kernel(float* dst, const StateTensorPlace* dst_places, int64_t dst_b,
                                     const float* src, const StateTensorPlace* src_places,
                                     int64_t src_b, int64_t tensors) {
  for (int64_t t = blockIdx.y; t < tensors; t += gridDim.y) {
    const StateTensorPlace d = dst_places[t], s = src_places[t];
    float* out = dst + d.offset + dst_b * d.per_seq;
    const float* in = src + s.offset + src_b * s.per_seq;
    for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < d.per_seq;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x)
      out[i] = in[i];
  }
}

}  // namespace

void copy_state_sequence(float* dst, const StateTensorPlace* dst_places, int64_t dst_b,
                         const float* src, const StateTensorPlace* src_places, int64_t src_b,
                         int64_t tensors, int64_t max_per_seq) {
  if (tensors == 0 || max_per_seq == 0) return;
  constexpr int kThreads = 256;
  const int64_t blocks = std::min<int64_t>((max_per_seq + kThreads - 1) / kThreads, 128);
  const int64_t rows = std::min<int64_t>(tensors, 65535);
  // The legacy default stream, as cudaMemcpy: after the models' (blocking) streams' work and
  // before their later work.
  copy_sequence_kernel<<<dim3(static_cast<unsigned>(blocks), static_cast<unsigned>(rows)), kThreads,
                         0, cudaStreamLegacy>>>(dst, dst_places, dst_b, src, src_places, src_b,
                                                tensors);
  XLSTM_CUDA_CHECK_LAUNCH();
}

}  // namespace xlstm::cuda
