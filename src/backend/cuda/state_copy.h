#pragma once
// A state's tensors as the copy kernel sees them (state_copy.cu).
#include <cstdint>

namespace xlstm::cuda {

// Where one state tensor lives in a CudaStateMirror's allocation: floats from its start, and
// floats per sequence (sequence b at offset + b · per_seq).
struct StateTensorPlace {
  int64_t offset = 0, per_seq = 0;
};

// Sequence src_b of src into sequence dst_b of dst: both mirrors of one layout (`tensors`
// places each, in device memory; max_per_seq the largest per_seq). Ordered like cudaMemcpy.
void copy_state_sequence(float* dst, const StateTensorPlace* dst_places, int64_t dst_b,
                         const float* src, const StateTensorPlace* src_places, int64_t src_b,
                         int64_t tensors, int64_t max_per_seq);

}  // namespace xlstm::cuda
