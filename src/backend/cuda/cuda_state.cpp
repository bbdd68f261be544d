#include "backend/cuda/cuda_state.h"

#include "backend/cuda/check.h"
#include "xlstm/error.h"

namespace xlstm::cuda {

namespace {
int64_t pad64(int64_t n) {
  return (n + 63) / 64 * 64;  // 256-byte aligned pieces
}
}  // namespace

CudaStateMirror::CudaStateMirror(int64_t blocks, int64_t B, int64_t NH, int64_t DHQK, int64_t DHV)
    : blocks_(blocks),
      B_(B),
      NH_(NH),
      DHQK_(DHQK),
      DHV_(DHV),
      c_(B * NH * DHQK * DHV),
      n_(B * NH * DHQK),
      m_(B * NH),
      stride_(pad64(c_) + pad64(n_) + pad64(m_)),
      buf_(static_cast<size_t>(blocks * stride_) * sizeof(float)) {}

CellStateDev CudaStateMirror::block(int64_t i) const {
  float* base = buf_.as<float>() + i * stride_;
  return {base, base + pad64(c_), base + pad64(c_) + pad64(n_)};
}

void CudaStateMirror::upload(const std::vector<BlockState>& host) {
  if (static_cast<int64_t>(host.size()) != blocks_)
    throw Error(tagged("cuda", "state upload: block count differs"));
  for (int64_t i = 0; i < blocks_; ++i) {
    const CellStateDev d = block(i);
    const auto& h = host[static_cast<size_t>(i)];
    copy_to_device(d.C, h["C"].data(), static_cast<size_t>(c_) * sizeof(float));
    copy_to_device(d.n, h["n"].data(), static_cast<size_t>(n_) * sizeof(float));
    copy_to_device(d.m, h["m"].data(), static_cast<size_t>(m_) * sizeof(float));
  }
}

void CudaStateMirror::zero(Stream s) {
  XLSTM_CUDA_CHECK(cudaMemsetAsync(buf_.get(), 0, buf_.bytes(), s));
}

void CudaStateMirror::download(std::vector<BlockState>& host) const {
  for (int64_t i = 0; i < blocks_; ++i) {
    const CellStateDev d = block(i);
    auto& h = host[static_cast<size_t>(i)];
    copy_to_host(h["C"].data(), d.C, static_cast<size_t>(c_) * sizeof(float));
    copy_to_host(h["n"].data(), d.n, static_cast<size_t>(n_) * sizeof(float));
    copy_to_host(h["m"].data(), d.m, static_cast<size_t>(m_) * sizeof(float));
  }
}

}  // namespace xlstm::cuda
