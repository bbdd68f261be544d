#include "backend/cuda/cuda_state.h"

#include <algorithm>

#include "backend/cuda/check.h"
#include "xlstm/error.h"

namespace xlstm::cuda {

namespace {
int64_t numel(const StateTensorSpec& t) {
  int64_t n = 1;
  for (int64_t d : t.shape) n *= d;
  return n;
}
}  // namespace

CudaStateMirror::CudaStateMirror(const StateLayout& layout, int64_t B) : layout_(layout), B_(B) {
  size_t total = 0;
  for (const auto& b : layout) {
    std::vector<size_t> offs, per;
    for (const auto& t : b.tensors) {
      offs.push_back(total);
      per.push_back(static_cast<size_t>(numel(t)));
      total += (static_cast<size_t>(B) * per.back() + 63) / 64 * 64;  // 256-byte pieces
    }
    offsets_.push_back(std::move(offs));
    per_seq_.push_back(std::move(per));
  }
  buf_ = DeviceBuffer(total * sizeof(float));
  std::vector<StateTensorPlace> places;
  for (size_t i = 0; i < layout.size(); ++i) {
    for (size_t j = 0; j < per_seq_[i].size(); ++j) {
      places.push_back(
          {static_cast<int64_t>(offsets_[i][j]), static_cast<int64_t>(per_seq_[i][j])});
      max_per_seq_ = std::max(max_per_seq_, places.back().per_seq);
    }
  }
  tensors_ = static_cast<int64_t>(places.size());
  if (!places.empty()) {
    places_ = DeviceBuffer(places.size() * sizeof(StateTensorPlace));
    copy_to_device(places_.get(), places.data(), places.size() * sizeof(StateTensorPlace));
  }
}

float* CudaStateMirror::tensor(size_t block, std::string_view name) const {
  const auto& specs = layout_.at(block).tensors;
  for (size_t j = 0; j < specs.size(); ++j)
    if (specs[j].name == name) return tensor(block, j);
  throw Error(tagged("cuda", "state: block " + std::to_string(block) + " has no tensor '" +
                                 std::string(name) + "'"));
}

void CudaStateMirror::upload(const std::vector<BlockState>& host) {
  if (host.size() != layout_.size())
    throw Error(tagged("cuda", "state upload: block count differs"));
  for (size_t i = 0; i < layout_.size(); ++i)
    for (size_t j = 0; j < layout_[i].tensors.size(); ++j)
      copy_to_device(tensor(i, j), host[i].tensors[j].data.data(),
                     host[i].tensors[j].data.size() * sizeof(float));
}

void CudaStateMirror::zero(Stream s) {
  XLSTM_CUDA_CHECK(cudaMemsetAsync(buf_.get(), 0, buf_.bytes(), s));
}

void CudaStateMirror::download(std::vector<BlockState>& host) const {
  for (size_t i = 0; i < layout_.size(); ++i)
    for (size_t j = 0; j < layout_[i].tensors.size(); ++j)
      copy_to_host(host[i].tensors[j].data.data(), tensor(i, j),
                   host[i].tensors[j].data.size() * sizeof(float));
}

bool CudaStateMirror::copy_sequence(int64_t dst_b, const StateMirror& src, int64_t src_b) {
  const auto* s = dynamic_cast<const CudaStateMirror*>(&src);
  if (s == nullptr || s->layout_ != layout_) return false;
  copy_state_sequence(buf_.as<float>(), places_.as<StateTensorPlace>(), dst_b, s->buf_.as<float>(),
                      s->places_.as<StateTensorPlace>(), src_b, tensors_, max_per_seq_);
  return true;
}

bool CudaStateMirror::upload_sequence(int64_t dst_b, const std::vector<BlockState>& host,
                                      int64_t host_b) {
  for (size_t i = 0; i < layout_.size(); ++i) {
    for (size_t j = 0; j < layout_[i].tensors.size(); ++j) {
      const size_t n = per_seq_[i][j];
      copy_to_device(tensor(i, j) + static_cast<size_t>(dst_b) * n,
                     host[i].tensors[j].data.data() + static_cast<size_t>(host_b) * n,
                     n * sizeof(float));
    }
  }
  return true;
}

bool CudaStateMirror::download_sequence(std::vector<BlockState>& host, int64_t host_b,
                                        int64_t src_b) const {
  for (size_t i = 0; i < layout_.size(); ++i) {
    for (size_t j = 0; j < layout_[i].tensors.size(); ++j) {
      const size_t n = per_seq_[i][j];
      copy_to_host(host[i].tensors[j].data.data() + static_cast<size_t>(host_b) * n,
                   tensor(i, j) + static_cast<size_t>(src_b) * n, n * sizeof(float));
    }
  }
  return true;
}

}  // namespace xlstm::cuda
