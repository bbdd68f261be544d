#pragma once
// The CUDA copy of a State (see the comment in include/xlstm/state.h): one device allocation, per
// block C [B, NH, DHQK, DHV] | n [B, NH, DHQK] | m [B, NH], float32, advanced in place by the
// kernels. Host transfers are synchronous (cudaMemcpy orders them after the model's stream work).
#include <cstdint>
#include <vector>

#include "backend/cuda/api.h"
#include "backend/cuda/ops.h"
#include "xlstm/state.h"

namespace xlstm::cuda {

class CudaStateMirror final : public StateMirror {
 public:
  CudaStateMirror(int64_t blocks, int64_t B, int64_t NH, int64_t DHQK, int64_t DHV);
  bool matches(int64_t blocks, int64_t B, int64_t NH, int64_t DHQK, int64_t DHV) const {
    return blocks == blocks_ && B == B_ && NH == NH_ && DHQK == DHQK_ && DHV == DHV_;
  }
  CellStateDev block(int64_t i) const;
  const void* data() const { return buf_.get(); }
  void upload(const std::vector<BlockState>& host);
  void zero(Stream s);  // every value 0 (a fresh state), ordered on s
  void download(std::vector<BlockState>& host) const override;

 private:
  int64_t blocks_, B_, NH_, DHQK_, DHV_;
  int64_t c_, n_, m_, stride_;  // floats per block: C, n, m, and the padded total
  DeviceBuffer buf_;
};

}  // namespace xlstm::cuda
