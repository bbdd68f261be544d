#pragma once
// Typed config of the "slstm" block (spec §3.4), parsed from the family config's slstm_block
// section (its slstm and feedforward parts).
#include <cstdint>

#include "ops/elementwise.h"
#include "xlstm/config.h"

namespace xlstm {

struct SlstmConfig final : BlockConfig {
  // How the checkpoint stores the recurrent kernel and bias: the official package's two backends
  // (spec §3.4). Converted to the vanilla layout at load; shapes alone cannot tell the biases
  // apart.
  enum class Layout { Vanilla, Cuda };

  int64_t embedding_dim = 0;  // E
  int64_t num_heads = 4;      // NH; head dim DH = E / NH
  int64_t conv_kernel = 4;    // 0: no convolution
  bool group_norm_weight = true;
  Layout layout = Layout::Cuda;  // the official default backend
  // Gated feed-forward after the cell (absent when the config's feedforward is null).
  bool has_ffn = true;
  int64_t ffn_dim = 0;  // Fv1
  Activation act = Activation::Gelu;
  bool ffn_bias = false;

  int64_t head_dim() const { return embedding_dim / num_heads; }
};

}  // namespace xlstm
