#pragma once
// Perplexity over a token stream, llama.cpp convention: non-overlapping windows of `ctx` tokens,
// each from a fresh state; only the second half of each window is scored (the first half is
// context); an incomplete last window is dropped.
#include <cstdint>
#include <functional>
#include <span>

#include "xlstm/model.h"

namespace xlstm {

struct PerplexityOptions {
  int64_t ctx = 256;
  // Logits at window positions [first, ctx - 1) predict tokens first + 1 .. ctx - 1. -1: ctx / 2.
  int64_t first = -1;
  bool prepend_bos =
      false;          // feed BOS before each window (positions shift by one; BOS is not scored)
  int64_t batch = 4;  // windows run together
  // Called after each batch of windows: windows done, windows in all, perplexity so far.
  std::function<void(int64_t, int64_t, double)> on_progress;
};

struct PerplexityResult {
  int64_t windows = 0;
  int64_t scored_tokens = 0;
  double mean_nll = 0.0;
  double perplexity = 0.0;
};

PerplexityResult perplexity(Model& model, std::span<const int32_t> tokens,
                            const PerplexityOptions& options);

}  // namespace xlstm
