#pragma once
// A sequence saved to resume exactly: its recurrent state and the tokens it has seen, in one
// safetensors file (the state's tensors as State::save writes them; the tokens in the metadata).
//
// The state covers every token but the last, which is run again on resume: the first token after
// resuming needs that token's logits, and a state alone has none. `xlstm generate --state-out`
// writes one, `--state-in` continues it, and the server's named states (--state-dir) are the same
// files.
#include <cstdint>
#include <filesystem>
#include <vector>

#include "xlstm/config.h"
#include "xlstm/state.h"

namespace xlstm {

struct SequenceCheckpoint {
  std::vector<int32_t> tokens;  // the whole sequence so far (at least one token)
  State state;                  // batch 1, after tokens [0, tokens.size() - 1)

  // Written to a temporary file next to path, then renamed: a reader never sees half a file.
  void save(const std::filesystem::path& path) const;
  // Throws InvalidInput naming the file when it is not a checkpoint of this model's layout, its
  // tokens are missing or not ids of the vocabulary, or its state is not one sequence.
  static SequenceCheckpoint load(const std::filesystem::path& path, const ModelConfig& config);
};

}  // namespace xlstm
