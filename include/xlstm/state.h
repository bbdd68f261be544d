#pragma once
// Recurrent state of a whole model for a batch of B sequences: per block, that block type's named
// float32 tensors (mLSTM: C, n, m; sLSTM: conv, y, c, n, m; ...), each of shape [B, ...].
// Constant size whatever the sequence length; copyable (fork), savable, loadable.
//
// Device-resident state: a backend that runs elsewhere (CUDA) keeps its own copy of the state, a
// StateMirror owned by this object, and advances that copy in place. The host tensors are then
// out of date until something reads them: every host accessor (blocks(), slice(), assign(),
// save(), copying) first downloads the mirror. Non-const host access marks the mirror out of date,
// and the backend uploads the host copy before its next forward. So a State behaves the same
// whichever device advanced it, and the cost is one transfer per switch between host and device.
//
// A fresh or reset state is known to be zero and holds no host memory until something reads it on
// the host; a device backend then clears its copy instead of uploading (a 7B state is 134 MB per
// sequence).
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace xlstm {

struct ModelConfig;

// One named state tensor of a block type, per sequence (the batch dimension comes first in use).
struct StateTensorSpec {
  std::string name;
  std::vector<int64_t> shape;  // without the batch dimension
  bool operator==(const StateTensorSpec&) const = default;
};

// What a block position keeps between calls: its block type and that type's tensors.
struct BlockStateSpec {
  std::string block_type;
  std::vector<StateTensorSpec> tensors;
  bool operator==(const BlockStateSpec&) const = default;
};
using StateLayout = std::vector<BlockStateSpec>;

// The state layout a config's blocks declare (through the block registry).
StateLayout state_layout(const ModelConfig& config);

struct StateTensor {
  std::string name;
  std::vector<float> data;  // [B, spec shape...] row-major
};

struct BlockState {
  std::vector<StateTensor> tensors;  // in the order of the block's StateTensorSpec list
  // The tensor of this name; throws InvalidInput naming it when the block has none.
  std::vector<float>& operator[](std::string_view name);
  const std::vector<float>& operator[](std::string_view name) const;
};

// A backend's copy of a State in its own memory.
class StateMirror {
 public:
  virtual ~StateMirror() = default;
  // Writes the mirror's values into the host blocks (already sized).
  virtual void download(std::vector<BlockState>& blocks) const = 0;
  // One sequence without transferring the others (State::copy_sequence). False: this mirror
  // cannot (src is another kind of mirror, say), and the State copies through the host.
  virtual bool copy_sequence(int64_t /*dst_b*/, const StateMirror& /*src*/, int64_t /*src_b*/) {
    return false;
  }
  virtual bool upload_sequence(int64_t /*dst_b*/, const std::vector<BlockState>& /*host*/,
                               int64_t /*host_b*/) {
    return false;
  }
  virtual bool download_sequence(std::vector<BlockState>& /*host*/, int64_t /*host_b*/,
                                 int64_t /*src_b*/) const {
    return false;
  }
};

class State {
 public:
  State() = default;
  State(const ModelConfig& config, int64_t batch);  // zeros (m0 = 0), as the references
  State(StateLayout layout, int64_t batch);
  State(const State& other);
  State& operator=(const State& other);
  State(State&&) noexcept;
  State& operator=(State&&) noexcept;
  ~State();

  int64_t batch() const { return batch_; }
  int64_t num_blocks() const { return static_cast<int64_t>(layout_ ? layout_->size() : 0); }
  const StateLayout& layout() const;
  std::vector<BlockState>& blocks();
  const std::vector<BlockState>& blocks() const;
  // Floats per sequence over all blocks.
  int64_t floats_per_sequence() const;

  void reset();
  // Sequence b of this state as a new batch-1 state, and the reverse.
  State slice(int64_t b) const;
  void assign(int64_t b, const State& single);
  // Sequence src_b of src (same layout; src may be this state) becomes sequence dst_b of this
  // one; the other sequences are untouched. Where both copies are on a device, nothing crosses
  // to the host, and only the one sequence moves otherwise: a server moves sequences between its
  // running batch and its prefix cache with this.
  void copy_sequence(int64_t dst_b, const State& src, int64_t src_b);

  // safetensors with tensors state.{i}.{name} of shape [B, spec...] and the block types in the
  // metadata ("xlstm.block_types", comma-separated). load() refuses a file of another layout,
  // naming the block and tensor that differ.
  void save(const std::filesystem::path& path) const;
  static State load(const std::filesystem::path& path, const ModelConfig& config);

 private:
  friend struct StateAccess;  // backends: src/model/state_access.h
  void sync_host() const;     // downloads the mirror if it is newer; allocates a zero state
  void copy_host_from(const State& other);
  bool host_is_zero() const { return host_zero_ && !host_stale_; }

  int64_t batch_ = 0;
  std::shared_ptr<const StateLayout> layout_;  // shared by copies
  mutable std::vector<BlockState> blocks_;     // mutable: const readers may download into it
  std::unique_ptr<StateMirror> mirror_;
  mutable bool host_stale_ = false;  // the mirror holds newer values than blocks_
  bool mirror_stale_ = true;         // blocks_ holds newer values than the mirror
  mutable bool host_zero_ = false;   // blocks_ is all zeros, its vectors perhaps not allocated
};

}  // namespace xlstm
