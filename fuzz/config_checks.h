#pragma once
// What a config that loaded must allow, for fuzz_config and fuzz_family_config: everything
// `xlstm info` derives from it (dims, layout, parameter count, state layout and size) without an
// exception or a sanitizer report, and sizes that are positive and agree with each other.
#include <string>

#include "fuzz_util.h"
#include "xlstm/config.h"
#include "xlstm/state.h"

namespace xlstm::fuzz {

inline void check_loaded_config(const ModelConfig& c) {
  if (c.embedding_dim <= 0 || c.num_blocks <= 0 || c.vocab_size <= 0)
    finding("config loaded with a non-positive size");
  if (static_cast<int64_t>(c.block_specs().size()) != c.num_blocks)
    finding("block_specs() has " + std::to_string(c.block_specs().size()) + " entries for " +
            std::to_string(c.num_blocks) + " blocks");
  if (c.family == Family::Large &&
      (c.qk_head_dim() <= 0 || c.v_head_dim() <= 0 || c.ffn_dim() <= 0))
    finding("xLSTM Large dims not positive: " + describe(c));
  // Past a few thousand blocks the derivations below only repeat per block what smaller stacks
  // exercise, and under ASan a 65,536-block stack (the most a config may have) takes 5-80 s
  // where a release build takes 0.3 s: the fuzzer would stop on it as a timeout.
  if (c.num_blocks > 4096) return;
  if (c.parameter_count() <= 0)
    finding("parameter_count() = " + std::to_string(c.parameter_count()));
  // The state layout's own sizes, summed here, equal state_floats_per_sequence().
  int64_t floats = 0;
  const StateLayout layout = state_layout(c);
  if (static_cast<int64_t>(layout.size()) != c.num_blocks) finding("state layout size");
  for (const auto& block : layout) {
    for (const auto& t : block.tensors) {
      int64_t n = 1;
      for (const int64_t d : t.shape) {
        if (d <= 0)
          finding(block.block_type + " state '" + t.name + "' has a dim " + std::to_string(d));
        if (n > (int64_t{1} << 62) / d) finding("state tensor '" + t.name + "' size overflows");
        n *= d;
      }
      if (floats > (int64_t{1} << 62) - n) finding("state size overflows");
      floats += n;
    }
  }
  if (floats != c.state_floats_per_sequence())
    finding("state_floats_per_sequence() = " + std::to_string(c.state_floats_per_sequence()) +
            ", the layout sums to " + std::to_string(floats));
  if (describe(c).empty()) finding("describe() is empty");
}

}  // namespace xlstm::fuzz
