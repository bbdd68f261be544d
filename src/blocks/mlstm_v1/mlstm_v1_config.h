#pragma once
// Typed config of the "mlstm_v1" block (the original family's mLSTM block, spec §3.3), parsed from
// the family config's mlstm_block.mlstm section.
#include <cstdint>

#include "xlstm/config.h"

namespace xlstm {

struct MlstmV1Config final : BlockConfig {
  int64_t embedding_dim = 0;  // E
  int64_t inner_dim = 0;      // I: the up-projection's width per branch
  int64_t num_heads = 4;      // NH; head dim DH = I / NH
  int64_t conv_kernel = 4;    // KS ≥ 1
  int64_t qkv_blocksize = 4;  // block size of the headwise q, k, v projections
  bool bias = false;          // the stack's bias: proj_up, q/k/v, proj_down
  int64_t head_dim() const { return inner_dim / num_heads; }
};

}  // namespace xlstm
