#include "xlstm/state.h"

#include <algorithm>
#include <sstream>

#include "io/safetensors.h"
#include "xlstm/config.h"
#include "xlstm/error.h"

namespace xlstm {

namespace {

int64_t per_sequence(const StateTensorSpec& t) {
  int64_t n = 1;
  for (int64_t d : t.shape) n *= d;
  return n;
}

std::string block_types_of(const StateLayout& layout) {
  std::string out;
  for (const auto& b : layout) out += (out.empty() ? "" : ",") + b.block_type;
  return out;
}

const std::string kBlockTypesKey = "xlstm.block_types";

}  // namespace

std::vector<float>& BlockState::operator[](std::string_view name) {
  for (auto& t : tensors)
    if (t.name == name) return t.data;
  throw InvalidInput(tagged("state", "block has no state tensor '" + std::string(name) + "'"));
}

const std::vector<float>& BlockState::operator[](std::string_view name) const {
  return const_cast<BlockState&>(*this)[name];
}

State::State(const ModelConfig& c, int64_t batch) : State(state_layout(c), batch) {}

State::State(StateLayout layout, int64_t batch)
    : batch_(batch), layout_(std::make_shared<const StateLayout>(std::move(layout))) {
  if (batch <= 0)
    throw InvalidInput(
        tagged("state", "batch size must be positive, got " + std::to_string(batch)));
  blocks_.resize(layout_->size());
  for (size_t i = 0; i < blocks_.size(); ++i) {
    for (const auto& t : (*layout_)[i].tensors) blocks_[i].tensors.push_back({t.name, {}});
  }
  reset();
}

State::State(const State& other) : batch_(other.batch_), layout_(other.layout_) {
  copy_host_from(other);
}

void State::copy_host_from(const State& other) {
  if (other.host_is_zero()) {
    blocks_ = other.blocks_;  // names only: zeros are allocated on first host use
    for (auto& b : blocks_)
      for (auto& t : b.tensors) t.data = {};
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
  layout_ = other.layout_;
  copy_host_from(other);
  mirror_.reset();
  host_stale_ = false;
  mirror_stale_ = true;
  return *this;
}

State::State(State&&) noexcept = default;
State& State::operator=(State&&) noexcept = default;
State::~State() = default;

const StateLayout& State::layout() const {
  static const StateLayout empty;
  return layout_ ? *layout_ : empty;
}

int64_t State::floats_per_sequence() const {
  int64_t n = 0;
  for (const auto& b : layout())
    for (const auto& t : b.tensors) n += per_sequence(t);
  return n;
}

void State::sync_host() const {
  if (host_zero_) {  // allocate, once, the zeros a reader (or a download) needs
    for (size_t i = 0; i < blocks_.size(); ++i) {
      const auto& specs = (*layout_)[i].tensors;
      for (size_t j = 0; j < specs.size(); ++j) {
        auto& data = blocks_[i].tensors[j].data;
        if (data.empty()) data.assign(static_cast<size_t>(batch_ * per_sequence(specs[j])), 0.0f);
      }
    }
  }
  if (host_stale_ && mirror_ != nullptr) {
    mirror_->download(blocks_);
    host_zero_ = false;
  }
  host_stale_ = false;
}

std::vector<BlockState>& State::blocks() {
  sync_host();
  mirror_stale_ = true;  // the caller may write
  host_zero_ = false;
  return blocks_;
}

const std::vector<BlockState>& State::blocks() const {
  sync_host();
  return blocks_;
}

void State::reset() {
  host_stale_ = false;
  mirror_stale_ = true;
  host_zero_ = true;
  for (auto& b : blocks_)
    for (auto& t : b.tensors) t.data = {};  // zeros, allocated on first host use
}

State State::slice(int64_t b) const {
  if (b < 0 || b >= batch_)
    throw InvalidInput(tagged("state", "sequence " + std::to_string(b) + " out of range"));
  sync_host();
  State out(*layout_, 1);
  out.layout_ = layout_;
  out.host_zero_ = false;
  for (size_t i = 0; i < blocks_.size(); ++i) {
    const auto& specs = (*layout_)[i].tensors;
    for (size_t j = 0; j < specs.size(); ++j) {
      const int64_t n = per_sequence(specs[j]);
      const auto& src = blocks_[i].tensors[j].data;
      out.blocks_[i].tensors[j].data.assign(src.begin() + b * n, src.begin() + (b + 1) * n);
    }
  }
  return out;
}

void State::assign(int64_t b, const State& one) {
  if (b < 0 || b >= batch_ || one.batch_ != 1 || one.layout() != layout()) {
    throw InvalidInput(tagged("state", "assign: incompatible state or sequence index"));
  }
  sync_host();
  one.sync_host();
  mirror_stale_ = true;
  host_zero_ = false;
  for (size_t i = 0; i < blocks_.size(); ++i) {
    const auto& specs = (*layout_)[i].tensors;
    for (size_t j = 0; j < specs.size(); ++j) {
      const int64_t n = per_sequence(specs[j]);
      const auto& src = one.blocks_[i].tensors[j].data;
      std::copy(src.begin(), src.end(), blocks_[i].tensors[j].data.begin() + b * n);
    }
  }
}

void State::copy_sequence(int64_t dst_b, const State& src, int64_t src_b) {
  if (src.layout() != layout())
    throw InvalidInput(tagged("state", "copy_sequence: the states' layouts differ"));
  if (dst_b < 0 || dst_b >= batch_ || src_b < 0 || src_b >= src.batch_) {
    throw InvalidInput(tagged("state", "copy_sequence: sequence " + std::to_string(src_b) + " of " +
                                           std::to_string(src.batch_) + " to " +
                                           std::to_string(dst_b) + " of " + std::to_string(batch_) +
                                           " is out of range"));
  }
  if (this == &src && dst_b == src_b) return;
  // Where each state's newest values are: its mirror (the device) or its host blocks.
  const bool src_on_device = src.mirror_ != nullptr && !src.mirror_stale_;
  const bool dst_on_device = mirror_ != nullptr && !mirror_stale_;
  if (src_on_device && dst_on_device && mirror_->copy_sequence(dst_b, *src.mirror_, src_b)) {
    host_stale_ = true;
    return;
  }
  if (dst_on_device) {
    src.sync_host();
    if (mirror_->upload_sequence(dst_b, src.blocks_, src_b)) {
      host_stale_ = true;
      return;
    }
  }
  sync_host();
  mirror_stale_ = true;
  host_zero_ = false;
  if (src_on_device && src.mirror_->download_sequence(blocks_, dst_b, src_b)) return;
  src.sync_host();
  for (size_t i = 0; i < blocks_.size(); ++i) {
    const auto& specs = (*layout_)[i].tensors;
    for (size_t j = 0; j < specs.size(); ++j) {
      const int64_t n = per_sequence(specs[j]);
      const auto& from = src.blocks_[i].tensors[j].data;
      std::copy(from.begin() + src_b * n, from.begin() + (src_b + 1) * n,
                blocks_[i].tensors[j].data.begin() + dst_b * n);
    }
  }
}

void State::save(const std::filesystem::path& path) const {
  sync_host();
  std::vector<TensorToWrite> tensors;
  for (size_t i = 0; i < blocks_.size(); ++i) {
    const auto& specs = (*layout_)[i].tensors;
    for (size_t j = 0; j < specs.size(); ++j) {
      Shape shape{batch_};
      shape.insert(shape.end(), specs[j].shape.begin(), specs[j].shape.end());
      tensors.push_back(f32_tensor("state." + std::to_string(i) + "." + specs[j].name, shape,
                                   blocks_[i].tensors[j].data.data()));
    }
  }
  write_safetensors(path, tensors, {{kBlockTypesKey, block_types_of(layout())}});
}

State State::load(const std::filesystem::path& path, const ModelConfig& config) {
  const auto store = TensorStore::open_file(path);
  const StateLayout layout = state_layout(config);
  const std::string src = path.string();
  // Block types, when the file records them (files from before the registry do not).
  if (auto it = store.metadata().find(kBlockTypesKey); it != store.metadata().end()) {
    std::vector<std::string> types;
    std::stringstream ss(it->second);
    for (std::string t; std::getline(ss, t, ',');) types.push_back(t);
    if (types.size() != layout.size()) {
      throw InvalidInput(tagged("state", src + ": holds " + std::to_string(types.size()) +
                                             " blocks, the model has " +
                                             std::to_string(layout.size())));
    }
    for (size_t i = 0; i < types.size(); ++i) {
      if (types[i] != layout[i].block_type) {
        throw InvalidInput(tagged("state", src + ": block " + std::to_string(i) + " is '" +
                                               types[i] + "' in the file, '" +
                                               layout[i].block_type + "' in the model"));
      }
    }
  }
  if (layout.empty() || layout[0].tensors.empty())
    throw InvalidInput(tagged("state", src + ": the model has no state"));
  const std::string first = "state.0." + layout[0].tensors[0].name;
  const TensorInfo* t0 = store.find(first);
  if (t0 == nullptr || t0->shape.empty() || t0->shape[0] <= 0)
    throw InvalidInput(tagged("state", src + ": missing '" + first + "' (or no batch dimension)"));
  State s(layout, t0->shape[0]);
  s.host_zero_ = false;
  size_t expected_tensors = 0;
  for (size_t i = 0; i < layout.size(); ++i) {
    for (size_t j = 0; j < layout[i].tensors.size(); ++j) {
      const auto& spec = layout[i].tensors[j];
      const std::string name = "state." + std::to_string(i) + "." + spec.name;
      const TensorInfo* t = store.find(name);
      if (t == nullptr) {
        throw InvalidInput(tagged("state", src + ": missing '" + name + "' (block " +
                                               std::to_string(i) + ", " + layout[i].block_type +
                                               ")"));
      }
      Shape shape{s.batch_};
      shape.insert(shape.end(), spec.shape.begin(), spec.shape.end());
      s.blocks_[i].tensors[j].data = read_f32(*t, shape);  // names the tensor on a mismatch
      ++expected_tensors;
    }
  }
  if (store.names().size() != expected_tensors) {
    for (const auto& n : store.names()) {
      bool known = false;
      for (size_t i = 0; i < layout.size() && !known; ++i)
        for (const auto& spec : layout[i].tensors)
          known = known || n == "state." + std::to_string(i) + "." + spec.name;
      if (!known)
        throw InvalidInput(
            tagged("state", src + ": tensor '" + n + "' is not in this model's state"));
    }
  }
  return s;
}

}  // namespace xlstm
