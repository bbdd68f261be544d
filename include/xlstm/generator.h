#pragma once
// Prompt → tokens: one prefill, then one step per new token, carrying the recurrent state.
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "xlstm/model.h"
#include "xlstm/sampler.h"
#include "xlstm/sequence_checkpoint.h"

namespace xlstm {

struct GenerateOptions {
  SamplingParams sampling;
  int64_t max_new_tokens = 64;
  bool stop_at_eos = true;
  bool insert_bos =
      true;  // prepend BOS if the config says force_bos_token_insert (and it is missing)
  // Continue this saved sequence: the prompt follows its tokens (no BOS is inserted).
  const SequenceCheckpoint* resume = nullptr;
  // Receives the whole sequence (prompt and new tokens) at the end, to be resumed exactly.
  SequenceCheckpoint* checkpoint = nullptr;
  // The prompt's prefill: called after each segment with prompt tokens done and in all.
  std::function<void(int64_t, int64_t)> on_prefill_progress;
};

struct GenerateResult {
  std::vector<int32_t> tokens;  // new tokens only (including EOS if it stopped there)
  std::string stop_reason;      // "eos", "length" or "callback"
  int64_t prompt_tokens = 0;    // after BOS insertion (resumed: the checkpoint's tokens too)
  double prefill_seconds = 0, decode_seconds = 0;
};

// on_token is called for each new token; returning false stops generation.
GenerateResult generate(Model& model, std::span<const int32_t> prompt,
                        const GenerateOptions& options,
                        const std::function<bool(int32_t)>& on_token = {});

// The prompt as the model will see it (BOS inserted per config and options).
std::vector<int32_t> prepare_prompt(const ModelConfig& config, std::span<const int32_t> prompt,
                                    bool insert_bos);

}  // namespace xlstm
