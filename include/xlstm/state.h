#pragma once
// Recurrent state of a whole model for a batch of B sequences: per block the mLSTM (C, n, m),
// float32. Constant size whatever the sequence length; copyable (fork), savable, loadable.
#include <cstdint>
#include <filesystem>
#include <vector>

namespace xlstm {

struct ModelConfig;

struct MlstmBlockState {
  std::vector<float> C;  // [B, NH, DHQK, DHV]
  std::vector<float> n;  // [B, NH, DHQK]
  std::vector<float> m;  // [B, NH]
};

class State {
 public:
  State() = default;
  State(const ModelConfig& config, int64_t batch);  // zeros (m0 = 0), as the references

  int64_t batch() const { return batch_; }
  int64_t num_heads() const { return NH_; }
  int64_t qk_head_dim() const { return DHQK_; }
  int64_t v_head_dim() const { return DHV_; }
  std::vector<MlstmBlockState>& blocks() { return blocks_; }
  const std::vector<MlstmBlockState>& blocks() const { return blocks_; }

  void reset();
  // Sequence b of this state as a new batch-1 state, and the reverse.
  State slice(int64_t b) const;
  void assign(int64_t b, const State& single);

  // safetensors with tensors state.{i}.C / .n / .m (shapes [B,NH,DHQK,DHV], [B,NH,DHQK], [B,NH,1]).
  void save(const std::filesystem::path& path) const;
  static State load(const std::filesystem::path& path, const ModelConfig& config);

 private:
  int64_t batch_ = 0, NH_ = 0, DHQK_ = 0, DHV_ = 0;
  std::vector<MlstmBlockState> blocks_;
};

}  // namespace xlstm
