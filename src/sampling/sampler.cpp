#include "xlstm/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "xlstm/error.h"

namespace xlstm {

void validate(const SamplingParams& p) {
  auto bad = [](const std::string& what) { throw InvalidInput(tagged("sampler", what)); };
  if (!(p.temperature >= 0.0f) || !std::isfinite(p.temperature))
    bad("temperature must be >= 0, got " + std::to_string(p.temperature));
  if (p.top_k < 0) bad("top_k must be >= 0, got " + std::to_string(p.top_k));
  if (!(p.top_p > 0.0f && p.top_p <= 1.0f))
    bad("top_p must be in (0, 1], got " + std::to_string(p.top_p));
  if (!(p.min_p >= 0.0f && p.min_p <= 1.0f))
    bad("min_p must be in [0, 1], got " + std::to_string(p.min_p));
  if (!(p.repeat_penalty > 0.0f) || !std::isfinite(p.repeat_penalty))
    bad("repeat_penalty must be > 0, got " + std::to_string(p.repeat_penalty));
}

Sampler::Sampler(const SamplingParams& params) : p_(params), rng_(params.seed) {
  validate(params);
}

double Sampler::uniform() {
  return static_cast<double>(rng_() >> 11) * 0x1.0p-53;
}

double Sampler::draw() {
  return p_.temperature == 0.0f ? 0.0 : uniform();
}

int32_t Sampler::sample(std::span<const float> logits, std::span<const int32_t> history) {
  return sample_token(logits, history, p_, draw(), scratch_);
}

int32_t sample_token(std::span<const float> logits, std::span<const int32_t> history,
                     const SamplingParams& p, double u, SamplerScratch& scratch) {
  const auto V = static_cast<int32_t>(logits.size());
  for (int32_t i = 0; i < V; ++i) {
    if (!std::isfinite(logits[static_cast<size_t>(i)])) {
      throw InvalidInput(tagged("sampler", "the logit of token " + std::to_string(i) + " is " +
                                               std::to_string(logits[static_cast<size_t>(i)]) +
                                               ": the model's weights or state are not finite"));
    }
  }
  auto& work = scratch.work;
  auto& order = scratch.order;
  auto& prob = scratch.prob;
  work.assign(logits.begin(), logits.end());
  if (p.repeat_penalty != 1.0f) {
    // Each distinct token is penalised once, however often it occurs (HF convention).
    scratch.seen.assign(static_cast<size_t>(V), false);
    for (int32_t id : history) {
      if (id < 0 || id >= V || scratch.seen[static_cast<size_t>(id)]) continue;
      scratch.seen[static_cast<size_t>(id)] = true;
      float& l = work[static_cast<size_t>(id)];
      l = l > 0 ? l / p.repeat_penalty : l * p.repeat_penalty;
    }
  }
  if (p.temperature == 0.0f) {
    return static_cast<int32_t>(std::max_element(work.begin(), work.end()) - work.begin());
  }
  order.resize(static_cast<size_t>(V));
  std::iota(order.begin(), order.end(), 0);
  auto by_logit = [&](int32_t a, int32_t b) {
    return work[a] > work[b] || (work[a] == work[b] && a < b);
  };
  int32_t n = V;
  if (p.top_k > 0 && p.top_k < V) {
    std::partial_sort(order.begin(), order.begin() + p.top_k, order.end(), by_logit);
    n = p.top_k;
  } else {
    std::sort(order.begin(), order.end(), by_logit);
  }
  // Softmax over the kept candidates at the given temperature, in descending order.
  prob.resize(static_cast<size_t>(n));
  const double max_l = work[order[0]];
  double sum = 0.0;
  for (int32_t i = 0; i < n; ++i) {
    prob[i] = std::exp((work[order[i]] - max_l) / p.temperature);
    sum += prob[i];
  }
  for (int32_t i = 0; i < n; ++i) prob[i] /= sum;
  int32_t keep = n;
  if (p.top_p < 1.0f) {
    double cum = 0.0;
    for (int32_t i = 0; i < n; ++i) {
      cum += prob[i];
      if (cum >= p.top_p) {
        keep = i + 1;
        break;
      }
    }
  }
  if (p.min_p > 0.0f) {
    const double floor_p = p.min_p * prob[0];
    int32_t i = 1;
    while (i < keep && prob[i] >= floor_p) ++i;
    keep = i;
  }
  double total = 0.0;
  for (int32_t i = 0; i < keep; ++i) total += prob[i];
  double r = u * total;
  for (int32_t i = 0; i < keep; ++i) {
    r -= prob[i];
    if (r < 0.0) return order[i];
  }
  return order[keep - 1];
}

}  // namespace xlstm
