#pragma once
// The models whose state files fuzz_state loads (and fuzz_make_seeds writes): an xLSTM Large stack
// and an original-family "m s" stack, both tiny so that a whole state file is about a kilobyte
// and the fuzzer's mutations reach its header as often as its floats.
#include <string>
#include <vector>

#include "xlstm/config.h"

namespace xlstm::fuzz {

inline const std::vector<ModelConfig>& state_configs() {
  static const std::vector<ModelConfig> configs = [] {
    const char* large =
        R"({"embedding_dim": 8, "num_heads": 2, "num_blocks": 2, "vocab_size": 16})";
    const char* family = R"({
      "vocab_size": 16, "embedding_dim": 8, "num_blocks": 2, "slstm_at": [1],
      "mlstm_block": {"mlstm": {"num_heads": 2, "proj_factor": 2.0,
                                "round_proj_up_to_multiple_of": 8, "conv1d_kernel_size": 2,
                                "qkv_proj_blocksize": 4}},
      "slstm_block": {"slstm": {"num_heads": 2, "conv1d_kernel_size": 2, "backend": "vanilla"}}})";
    return std::vector<ModelConfig>{parse_config(large, "fuzz/state_configs.h: large").config,
                                    parse_config(family, "fuzz/state_configs.h: family").config};
  }();
  return configs;
}

}  // namespace xlstm::fuzz
