#pragma once
// Recurrent state of a whole model for a batch of B sequences: per block the mLSTM (C, n, m),
// float32. Constant size whatever the sequence length; copyable (fork), savable, loadable.
//
// Device-resident state: a backend that runs elsewhere (CUDA) keeps its own copy of the state, a
// StateMirror owned by this object, and advances that copy in place. The host vectors are then
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
#include <vector>

namespace xlstm {

struct ModelConfig;

struct MlstmBlockState {
  std::vector<float> C;  // [B, NH, DHQK, DHV]
  std::vector<float> n;  // [B, NH, DHQK]
  std::vector<float> m;  // [B, NH]
};

// A backend's copy of a State in its own memory.
class StateMirror {
 public:
  virtual ~StateMirror() = default;
  // Writes the mirror's values into the host blocks (already sized).
  virtual void download(std::vector<MlstmBlockState>& blocks) const = 0;
};

class State {
 public:
  State() = default;
  State(const ModelConfig& config, int64_t batch);  // zeros (m0 = 0), as the references
  State(const State& other);
  State& operator=(const State& other);
  State(State&&) noexcept;
  State& operator=(State&&) noexcept;
  ~State();

  int64_t batch() const { return batch_; }
  int64_t num_heads() const { return NH_; }
  int64_t qk_head_dim() const { return DHQK_; }
  int64_t v_head_dim() const { return DHV_; }
  int64_t num_blocks() const { return static_cast<int64_t>(blocks_.size()); }
  std::vector<MlstmBlockState>& blocks();
  const std::vector<MlstmBlockState>& blocks() const;

  void reset();
  // Sequence b of this state as a new batch-1 state, and the reverse.
  State slice(int64_t b) const;
  void assign(int64_t b, const State& single);

  // safetensors with tensors state.{i}.C / .n / .m (shapes [B,NH,DHQK,DHV], [B,NH,DHQK], [B,NH,1]).
  void save(const std::filesystem::path& path) const;
  static State load(const std::filesystem::path& path, const ModelConfig& config);

 private:
  friend struct StateAccess;  // backends: src/model/state_access.h
  void sync_host() const;     // downloads the mirror if it is newer; allocates a zero state
  void copy_host_from(const State& other);
  bool host_is_zero() const { return host_zero_ && !host_stale_; }

  int64_t batch_ = 0, NH_ = 0, DHQK_ = 0, DHV_ = 0;
  mutable std::vector<MlstmBlockState> blocks_;  // mutable: const readers may download into it
  std::unique_ptr<StateMirror> mirror_;
  mutable bool host_stale_ = false;  // the mirror holds newer values than blocks_
  bool mirror_stale_ = true;         // blocks_ holds newer values than the mirror
  mutable bool host_zero_ = false;   // blocks_ is all zeros, its vectors perhaps not allocated
};

}  // namespace xlstm
