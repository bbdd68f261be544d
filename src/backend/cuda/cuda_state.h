#pragma once
// The CUDA copy of a State (see the comment in include/xlstm/state.h): one device allocation with
// one array [B, spec shape...] per block and state tensor, in the layout's order, float32,
// advanced in place by the kernels. Host transfers are synchronous (cudaMemcpy orders them after
// the model's stream work). The one-sequence copies a server uses to move sequences between its
// batch and its cache are one kernel on the legacy default stream (state_copy.cu), ordered the
// same way.
#include <cstdint>
#include <string_view>
#include <vector>

#include "backend/cuda/api.h"
#include "backend/cuda/ops.h"
#include "backend/cuda/state_copy.h"
#include "xlstm/state.h"

namespace xlstm::cuda {

class CudaStateMirror : public StateMirror {
 public:
  CudaStateMirror(const StateLayout& layout, int64_t B);
  bool matches(const StateLayout& layout, int64_t B) const { return B == B_ && layout == layout_; }
  int64_t batch() const { return B_; }
  float* tensor(size_t block, size_t j) const { return buf_.as<float>() + offsets_[block][j]; }
  // The tensor of this name in a block (throws naming it when the block has none).
  float* tensor(size_t block, std::string_view name) const;
  const void* data() const { return buf_.get(); }
  size_t bytes() const { return buf_.bytes(); }

  void upload(const std::vector<BlockState>& host);
  void zero(Stream s);  // every value 0 (a fresh state), ordered on s
  void download(std::vector<BlockState>& host) const override;
  bool copy_sequence(int64_t dst_b, const StateMirror& src, int64_t src_b) override;
  bool upload_sequence(int64_t dst_b, const std::vector<BlockState>& host, int64_t host_b) override;
  bool download_sequence(std::vector<BlockState>& host, int64_t host_b,
                         int64_t src_b) const override;

 private:
  StateLayout layout_;
  int64_t B_;
  std::vector<std::vector<size_t>> offsets_;  // floats from the start, per block and tensor
  std::vector<std::vector<size_t>> per_seq_;  // floats per sequence, per block and tensor
  DeviceBuffer buf_;
  // Every tensor's place, flat in layout order, on the device (copy_sequence's one launch).
  DeviceBuffer places_;
  int64_t tensors_ = 0, max_per_seq_ = 0;
};

// xLSTM Large's view of a block: C [B, NH, DHQK, DHV] | n [B, NH, DHQK] | m [B, NH].
inline CellStateDev large_cell_state(const CudaStateMirror& m, size_t block) {
  return {m.tensor(block, 0), m.tensor(block, 1), m.tensor(block, 2)};
}

}  // namespace xlstm::cuda
