#include "xlstm/perplexity.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "xlstm/error.h"

namespace xlstm {

PerplexityResult perplexity(Model& model, std::span<const int32_t> tokens,
                            const PerplexityOptions& o) {
  const int64_t ctx = o.ctx, first = o.first < 0 ? o.ctx / 2 : o.first;
  if (ctx < 2)
    throw InvalidInput(tagged("perplexity", "ctx must be >= 2, got " + std::to_string(ctx)));
  if (first >= ctx - 1)
    throw InvalidInput(tagged("perplexity", "first scored position must be < ctx - 1"));
  if (o.batch < 1) throw InvalidInput(tagged("perplexity", "batch must be >= 1"));
  const int64_t windows = static_cast<int64_t>(tokens.size()) / ctx;
  if (windows == 0) {
    throw InvalidInput(
        tagged("perplexity", "the text has " + std::to_string(tokens.size()) +
                                 " tokens, fewer than one window of ctx = " + std::to_string(ctx)));
  }
  const int64_t V = model.config().vocab_size, shift = o.prepend_bos ? 1 : 0, S = ctx + shift;
  const auto bos = static_cast<int32_t>(model.config().bos_token_id);
  double nll_sum = 0.0;
  int64_t scored = 0;
  for (int64_t w0 = 0; w0 < windows; w0 += o.batch) {
    const int64_t B = std::min(o.batch, windows - w0);
    std::vector<int32_t> input;
    input.reserve(static_cast<size_t>(B * S));
    for (int64_t b = 0; b < B; ++b) {
      if (o.prepend_bos) input.push_back(bos);
      const auto* win = tokens.data() + (w0 + b) * ctx;
      input.insert(input.end(), win, win + ctx);
    }
    State state = model.new_state(B);
    const auto logits = model.forward(input, state);  // [B, S, V]
    for (int64_t b = 0; b < B; ++b) {
      const auto* win = tokens.data() + (w0 + b) * ctx;
      for (int64_t j = first; j < ctx - 1; ++j) {
        const float* row = logits.data() + (b * S + j + shift) * V;
        const float mx = *std::max_element(row, row + V);
        double z = 0.0;
        for (int64_t v = 0; v < V; ++v) z += std::exp(static_cast<double>(row[v] - mx));
        nll_sum += std::log(z) + mx - row[win[j + 1]];
        ++scored;
      }
    }
    if (o.on_progress)
      o.on_progress(w0 + B, windows, std::exp(nll_sum / static_cast<double>(scored)));
  }
  PerplexityResult r;
  r.windows = windows;
  r.scored_tokens = scored;
  r.mean_nll = nll_sum / static_cast<double>(scored);
  r.perplexity = std::exp(r.mean_nll);
  return r;
}

}  // namespace xlstm
