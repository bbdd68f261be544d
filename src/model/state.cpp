#include "xlstm/state.h"

#include <algorithm>

#include "io/safetensors.h"
#include "xlstm/config.h"
#include "xlstm/error.h"

namespace xlstm {

State::State(const ModelConfig& c, int64_t batch)
    : batch_(batch), NH_(c.num_heads), DHQK_(c.qk_head_dim()), DHV_(c.v_head_dim()) {
  if (batch <= 0)
    throw InvalidInput(
        tagged("state", "batch size must be positive, got " + std::to_string(batch)));
  blocks_.resize(static_cast<size_t>(c.num_blocks));
  reset();
}

State::State(const State& other)
    : batch_(other.batch_), NH_(other.NH_), DHQK_(other.DHQK_), DHV_(other.DHV_) {
  copy_host_from(other);
}

void State::copy_host_from(const State& other) {
  if (other.host_is_zero()) {
    blocks_.assign(other.blocks_.size(), MlstmBlockState{});
    host_zero_ = true;
    return;
  }
  other.sync_host();
  blocks_ = other.blocks_;
  host_zero_ = false;
}

State& State::operator=(const State& other) {
  if (this == &other) return *this;
  other.sync_host();
  batch_ = other.batch_;
  NH_ = other.NH_;
  DHQK_ = other.DHQK_;
  DHV_ = other.DHV_;
  copy_host_from(other);
  mirror_.reset();
  host_stale_ = false;
  mirror_stale_ = true;
  return *this;
}

State::State(State&&) noexcept = default;
State& State::operator=(State&&) noexcept = default;
State::~State() = default;

void State::sync_host() const {
  if (host_zero_) {  // allocate, once, the zeros a reader (or a download) needs
    for (auto& b : blocks_) {
      if (!b.m.empty()) continue;
      b.C.assign(static_cast<size_t>(batch_ * NH_ * DHQK_ * DHV_), 0.0f);
      b.n.assign(static_cast<size_t>(batch_ * NH_ * DHQK_), 0.0f);
      b.m.assign(static_cast<size_t>(batch_ * NH_), 0.0f);
    }
  }
  if (host_stale_ && mirror_ != nullptr) {
    mirror_->download(blocks_);
    host_zero_ = false;
  }
  host_stale_ = false;
}

std::vector<MlstmBlockState>& State::blocks() {
  sync_host();
  mirror_stale_ = true;  // the caller may write
  host_zero_ = false;
  return blocks_;
}

const std::vector<MlstmBlockState>& State::blocks() const {
  sync_host();
  return blocks_;
}

void State::reset() {
  host_stale_ = false;
  mirror_stale_ = true;
  host_zero_ = true;
  for (auto& b : blocks_) b = MlstmBlockState{};  // zeros, allocated on first host use
}

State State::slice(int64_t b) const {
  if (b < 0 || b >= batch_)
    throw InvalidInput(tagged("state", "sequence " + std::to_string(b) + " out of range"));
  sync_host();
  State out;
  out.batch_ = 1;
  out.NH_ = NH_;
  out.DHQK_ = DHQK_;
  out.DHV_ = DHV_;
  out.blocks_.resize(blocks_.size());
  const int64_t c = NH_ * DHQK_ * DHV_, n = NH_ * DHQK_, m = NH_;
  for (size_t i = 0; i < blocks_.size(); ++i) {
    out.blocks_[i].C.assign(blocks_[i].C.begin() + b * c, blocks_[i].C.begin() + (b + 1) * c);
    out.blocks_[i].n.assign(blocks_[i].n.begin() + b * n, blocks_[i].n.begin() + (b + 1) * n);
    out.blocks_[i].m.assign(blocks_[i].m.begin() + b * m, blocks_[i].m.begin() + (b + 1) * m);
  }
  return out;
}

void State::assign(int64_t b, const State& one) {
  if (b < 0 || b >= batch_ || one.batch_ != 1 || one.blocks_.size() != blocks_.size() ||
      one.NH_ != NH_ || one.DHQK_ != DHQK_ || one.DHV_ != DHV_) {
    throw InvalidInput(tagged("state", "assign: incompatible state or sequence index"));
  }
  sync_host();
  one.sync_host();
  mirror_stale_ = true;
  host_zero_ = false;
  const int64_t c = NH_ * DHQK_ * DHV_, n = NH_ * DHQK_, m = NH_;
  for (size_t i = 0; i < blocks_.size(); ++i) {
    std::copy(one.blocks_[i].C.begin(), one.blocks_[i].C.end(), blocks_[i].C.begin() + b * c);
    std::copy(one.blocks_[i].n.begin(), one.blocks_[i].n.end(), blocks_[i].n.begin() + b * n);
    std::copy(one.blocks_[i].m.begin(), one.blocks_[i].m.end(), blocks_[i].m.begin() + b * m);
  }
}

void State::save(const std::filesystem::path& path) const {
  sync_host();
  std::vector<TensorToWrite> tensors;
  for (size_t i = 0; i < blocks_.size(); ++i) {
    const std::string p = "state." + std::to_string(i) + ".";
    tensors.push_back(f32_tensor(p + "C", {batch_, NH_, DHQK_, DHV_}, blocks_[i].C.data()));
    tensors.push_back(f32_tensor(p + "n", {batch_, NH_, DHQK_}, blocks_[i].n.data()));
    tensors.push_back(f32_tensor(p + "m", {batch_, NH_, 1}, blocks_[i].m.data()));
  }
  write_safetensors(path, tensors);
}

State State::load(const std::filesystem::path& path, const ModelConfig& config) {
  const auto store = TensorStore::open_file(path);
  const TensorInfo* first = store.find("state.0.m");
  if (first == nullptr || first->shape.size() != 3) {
    throw InvalidInput(
        tagged("state", path.string() + ": missing 'state.0.m' of shape [B, NH, 1]"));
  }
  State s(config, first->shape[0]);
  for (size_t i = 0; i < s.blocks_.size(); ++i) {
    const std::string p = "state." + std::to_string(i) + ".";
    auto get = [&](const std::string& name, const Shape& shape) {
      const TensorInfo* t = store.find(name);
      if (t == nullptr)
        throw InvalidInput(tagged("state", path.string() + ": missing '" + name + "'"));
      return read_f32(*t, shape);
    };
    s.blocks_[i].C = get(p + "C", {s.batch_, s.NH_, s.DHQK_, s.DHV_});
    s.blocks_[i].n = get(p + "n", {s.batch_, s.NH_, s.DHQK_});
    s.blocks_[i].m = get(p + "m", {s.batch_, s.NH_, 1});
  }
  s.host_zero_ = false;
  return s;
}

}  // namespace xlstm
