#include "xlstm/generator.h"

#include <chrono>

#include "xlstm/error.h"

namespace xlstm {

std::vector<int32_t> prepare_prompt(const ModelConfig& c, std::span<const int32_t> prompt,
                                    bool insert_bos) {
  std::vector<int32_t> ids;
  const auto bos = static_cast<int32_t>(c.bos_token_id);
  // An empty prompt starts from BOS, as the reference generate does.
  if ((insert_bos && c.force_bos_token_insert && (prompt.empty() || prompt[0] != bos)) ||
      prompt.empty()) {
    ids.push_back(bos);
  }
  ids.insert(ids.end(), prompt.begin(), prompt.end());
  return ids;
}

GenerateResult generate(Model& model, std::span<const int32_t> prompt, const GenerateOptions& o,
                        const std::function<bool(int32_t)>& on_token) {
  if (o.max_new_tokens < 0) throw InvalidInput(tagged("generate", "max_new_tokens must be >= 0"));
  using clock = std::chrono::steady_clock;
  const ModelConfig& c = model.config();
  std::vector<int32_t> history;
  State state;
  size_t fed = 0;  // tokens of history the state has seen
  if (o.resume != nullptr) {
    if (o.resume->tokens.empty() || o.resume->state.batch() != 1)
      throw InvalidInput(tagged("generate", "the checkpoint to resume holds no sequence"));
    history = o.resume->tokens;
    history.insert(history.end(), prompt.begin(), prompt.end());
    state = o.resume->state;
    fed = o.resume->tokens.size() - 1;
  } else {
    history = prepare_prompt(c, prompt, o.insert_bos);
    state = model.new_state(1);
  }
  GenerateResult r;
  r.prompt_tokens = static_cast<int64_t>(history.size());
  r.stop_reason = "length";
  RunOptions run;
  run.all_logits = false;
  auto save_checkpoint = [&] {
    if (o.checkpoint == nullptr) return;
    o.checkpoint->tokens = history;
    o.checkpoint->state = std::move(state);
  };
  if (o.max_new_tokens == 0) {
    // The checkpoint's state covers all tokens but the last.
    if (o.checkpoint != nullptr && fed + 1 < history.size()) {
      model.forward(std::span<const int32_t>(history).subspan(fed, history.size() - 1 - fed), state,
                    run);
    }
    save_checkpoint();
    return r;
  }
  // The sampler draws the uniforms (seeded stream); the model applies the rule on its device.
  Sampler sampler(o.sampling);
  std::vector<std::vector<int32_t>> hist(1);
  const bool penalize = o.sampling.repeat_penalty != 1.0f;
  if (penalize) hist[0] = history;

  auto t0 = clock::now();
  double u[1] = {sampler.draw()};
  run.on_progress = o.on_prefill_progress;
  int32_t next = model.forward_sample(std::span<const int32_t>(history).subspan(fed), state,
                                      o.sampling, u, hist, run)[0];
  run.on_progress = nullptr;
  auto t1 = clock::now();
  r.prefill_seconds = std::chrono::duration<double>(t1 - t0).count();
  run.formulation = Formulation::Step;
  for (int64_t i = 0; i < o.max_new_tokens; ++i) {
    if (penalize) hist[0].push_back(next);
    history.push_back(next);
    r.tokens.push_back(next);
    if (on_token && !on_token(next)) {
      r.stop_reason = "callback";
      break;
    }
    if (o.stop_at_eos && next == c.eos_token_id) {
      r.stop_reason = "eos";
      break;
    }
    if (i + 1 == o.max_new_tokens) break;
    const int32_t one[1] = {next};
    u[0] = sampler.draw();
    next = model.forward_sample(one, state, o.sampling, u, hist, run)[0];
  }
  r.decode_seconds = std::chrono::duration<double>(clock::now() - t1).count();
  save_checkpoint();  // the last new token is not run yet: the state covers all but it
  return r;
}

}  // namespace xlstm
