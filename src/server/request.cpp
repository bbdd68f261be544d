#include "server/request.h"

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

namespace xlstm::server {
namespace {

using json = nlohmann::json;

[[noreturn]] void fail(const std::string& param, const std::string& message) {
  throw RequestError(400, param, message);
}

json parse_object(std::string_view body) {
  json j = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) fail("", "the request body is not valid JSON");
  if (!j.is_object()) fail("", "the request body must be a JSON object");
  return j;
}

// Rejects keys the endpoint does not know: a misspelt parameter must not be silently ignored.
void check_keys(const json& j, std::initializer_list<std::string_view> known) {
  for (const auto& [key, value] : j.items()) {
    bool ok = false;
    for (auto k : known) ok = ok || key == k;
    if (!ok) fail(key, "unknown parameter '" + key + "'");
  }
}

// The value of key, or nullptr when absent or null (OpenAI clients may send null for "unset").
const json* field(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return nullptr;
  return &*it;
}

int64_t as_int(const json& v, const std::string& name, int64_t lo, int64_t hi) {
  const std::string range = " (" + std::to_string(lo) + " to " + std::to_string(hi) + ")";
  if (v.is_number_unsigned()) {
    // JSON parses non-negative integers as unsigned: both bounds apply here too ("n": 0).
    const auto u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(hi) || static_cast<int64_t>(u) < lo)
      fail(name, "'" + name + "' is out of range" + range);
    return static_cast<int64_t>(u);
  }
  if (!v.is_number_integer()) fail(name, "'" + name + "' must be an integer");
  const auto x = v.get<int64_t>();
  if (x < lo || x > hi) fail(name, "'" + name + "' is out of range" + range);
  return x;
}

double as_number(const json& v, const std::string& name, double lo, double hi, bool lo_open) {
  if (!v.is_number()) fail(name, "'" + name + "' must be a number");
  const double x = v.get<double>();
  const bool below = lo_open ? !(x > lo) : !(x >= lo);
  if (!std::isfinite(x) || below || !(x <= hi)) {
    fail(name, "'" + name + "' is out of range (" + (lo_open ? "greater than " : "") +
                   std::to_string(lo) + " to " + std::to_string(hi) + ")");
  }
  return x;
}

bool as_bool(const json& v, const std::string& name) {
  if (!v.is_boolean()) fail(name, "'" + name + "' must be true or false");
  return v.get<bool>();
}

std::string as_string(const json& v, const std::string& name) {
  if (!v.is_string()) fail(name, "'" + name + "' must be a string");
  return v.get<std::string>();
}

std::vector<int32_t> as_ids(const json& v, const std::string& name, const RequestLimits& limits) {
  std::vector<int32_t> ids;
  ids.reserve(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    const json& e = v[i];
    const std::string at = name + "[" + std::to_string(i) + "]";
    if (!e.is_number_integer()) fail(name, "'" + at + "' must be an integer token id");
    const bool neg = !e.is_number_unsigned() && e.get<int64_t>() < 0;
    if (neg || e.get<uint64_t>() >= static_cast<uint64_t>(limits.vocab_size)) {
      fail(name, "'" + at + "' = " + e.dump() + " is not a token id of this model (0 to " +
                     std::to_string(limits.vocab_size - 1) + ")");
    }
    ids.push_back(e.get<int32_t>());
  }
  return ids;
}

bool all_integers(const json& a) {
  for (const auto& e : a)
    if (!e.is_number_integer()) return false;
  return true;
}

// A string, a list of strings, a list of token ids, or a list of lists of token ids.
std::vector<PromptInput> as_prompts(const json& v, const RequestLimits& limits) {
  const std::string name = "prompt";
  std::vector<PromptInput> out;
  if (v.is_string()) {
    out.push_back({true, v.get<std::string>(), {}});
    return out;
  }
  if (!v.is_array()) fail(name, "'prompt' must be a string, a list of strings or token ids");
  if (v.empty()) fail(name, "'prompt' is an empty list");
  if (all_integers(v)) {
    out.push_back({false, {}, as_ids(v, name, limits)});
    return out;
  }
  if (static_cast<int64_t>(v.size()) > limits.max_prompts) {
    fail(name, "'prompt' holds " + std::to_string(v.size()) + " prompts; at most " +
                   std::to_string(limits.max_prompts));
  }
  for (size_t i = 0; i < v.size(); ++i) {
    const json& e = v[i];
    if (e.is_string()) {
      out.push_back({true, e.get<std::string>(), {}});
    } else if (e.is_array() && all_integers(e)) {
      out.push_back({false, {}, as_ids(e, "prompt[" + std::to_string(i) + "]", limits)});
    } else {
      fail(name, "'prompt[" + std::to_string(i) + "]' must be a string or a list of token ids");
    }
  }
  return out;
}

}  // namespace

CompletionRequest parse_completion_request(std::string_view body, const RequestLimits& limits) {
  const json j = parse_object(body);
  check_keys(j, {"model",
                 "prompt",
                 "max_tokens",
                 "temperature",
                 "top_p",
                 "top_k",
                 "min_p",
                 "repetition_penalty",
                 "stop",
                 "seed",
                 "n",
                 "logprobs",
                 "echo",
                 "stream",
                 "stream_options",
                 "ignore_eos",
                 "state",
                 "user",
                 "best_of",
                 "presence_penalty",
                 "frequency_penalty",
                 "logit_bias",
                 "suffix"});
  CompletionRequest r;
  r.sampling.temperature = 1.0f;
  if (auto* v = field(j, "model")) r.model = as_string(*v, "model");
  auto* prompt = field(j, "prompt");
  if (!prompt) fail("prompt", "'prompt' is required");
  r.prompts = as_prompts(*prompt, limits);
  if (auto* v = field(j, "max_tokens"))
    r.max_tokens = as_int(*v, "max_tokens", 0, limits.ctx_limit);
  if (auto* v = field(j, "temperature"))
    r.sampling.temperature = static_cast<float>(as_number(*v, "temperature", 0, 2, false));
  if (auto* v = field(j, "top_p"))
    r.sampling.top_p = static_cast<float>(as_number(*v, "top_p", 0, 1, true));
  if (auto* v = field(j, "top_k")) {
    const int64_t k = as_int(*v, "top_k", -1, limits.vocab_size);
    r.sampling.top_k = static_cast<int32_t>(k < 0 ? 0 : k);  // -1 (vLLM) and 0: off
  }
  if (auto* v = field(j, "min_p"))
    r.sampling.min_p = static_cast<float>(as_number(*v, "min_p", 0, 1, false));
  if (auto* v = field(j, "repetition_penalty")) {
    r.sampling.repeat_penalty =
        static_cast<float>(as_number(*v, "repetition_penalty", 0, 10, true));
  }
  if (auto* v = field(j, "seed")) {
    r.has_seed = true;
    r.sampling.seed = static_cast<uint64_t>(as_int(*v, "seed", std::numeric_limits<int64_t>::min(),
                                                   std::numeric_limits<int64_t>::max()));
  }
  if (auto* v = field(j, "stop")) {
    if (v->is_string()) {
      r.stop.push_back(v->get<std::string>());
    } else if (v->is_array()) {
      for (size_t i = 0; i < v->size(); ++i)
        r.stop.push_back(as_string((*v)[i], "stop[" + std::to_string(i) + "]"));
    } else {
      fail("stop", "'stop' must be a string or a list of strings");
    }
    if (static_cast<int64_t>(r.stop.size()) > limits.max_stop)
      fail("stop", "'stop' holds more than " + std::to_string(limits.max_stop) + " strings");
    for (const auto& s : r.stop) {
      if (s.empty()) fail("stop", "'stop' holds an empty string");
      if (static_cast<int64_t>(s.size()) > limits.max_stop_bytes)
        fail("stop",
             "a 'stop' string is longer than " + std::to_string(limits.max_stop_bytes) + " bytes");
    }
  }
  if (auto* v = field(j, "n")) r.n = as_int(*v, "n", 1, limits.max_n);
  if (auto* v = field(j, "best_of")) {
    if (as_int(*v, "best_of", 1, limits.max_n) != r.n)
      fail("best_of", "'best_of' other than n is not supported");
  }
  if (auto* v = field(j, "logprobs")) r.logprobs = as_int(*v, "logprobs", 0, limits.max_logprobs);
  if (auto* v = field(j, "echo")) r.echo = as_bool(*v, "echo");
  if (r.echo && r.logprobs >= 0)
    fail("echo", "'echo' together with 'logprobs' (prompt log-probabilities) is not supported");
  if (auto* v = field(j, "stream")) r.stream = as_bool(*v, "stream");
  if (auto* v = field(j, "stream_options")) {
    if (!v->is_object()) fail("stream_options", "'stream_options' must be an object");
    check_keys(*v, {"include_usage"});
    if (auto* u = field(*v, "include_usage"))
      r.include_usage = as_bool(*u, "stream_options.include_usage");
  }
  if (auto* v = field(j, "ignore_eos")) r.ignore_eos = as_bool(*v, "ignore_eos");
  if (auto* v = field(j, "state")) {
    r.state = as_string(*v, "state");
    validate_state_name(r.state);
  }
  if (auto* v = field(j, "user")) as_string(*v, "user");
  for (const char* k : {"presence_penalty", "frequency_penalty"}) {
    if (auto* v = field(j, k)) {
      if (as_number(*v, k, -2, 2, false) != 0)
        fail(k, std::string("'") + k + "' is not supported (use repetition_penalty)");
    }
  }
  if (auto* v = field(j, "logit_bias")) {
    if (!v->is_object() || !v->empty()) fail("logit_bias", "'logit_bias' is not supported");
  }
  if (auto* v = field(j, "suffix")) {
    if (!as_string(*v, "suffix").empty()) fail("suffix", "'suffix' is not supported");
  }
  try {
    validate(r.sampling);
  } catch (const std::exception& e) {
    fail("", e.what());
  }
  return r;
}

TokenizeRequest parse_tokenize_request(std::string_view body) {
  const json j = parse_object(body);
  check_keys(j, {"model", "prompt", "add_special_tokens"});
  TokenizeRequest r;
  auto* p = field(j, "prompt");
  if (!p) fail("prompt", "'prompt' is required");
  r.prompt = as_string(*p, "prompt");
  if (auto* v = field(j, "add_special_tokens"))
    r.add_special_tokens = as_bool(*v, "add_special_tokens");
  if (auto* v = field(j, "model")) as_string(*v, "model");
  return r;
}

std::vector<int32_t> parse_detokenize_request(std::string_view body, const RequestLimits& limits) {
  const json j = parse_object(body);
  check_keys(j, {"model", "tokens"});
  auto* t = field(j, "tokens");
  if (!t) fail("tokens", "'tokens' is required");
  if (!t->is_array()) fail("tokens", "'tokens' must be a list of token ids");
  if (auto* v = field(j, "model")) as_string(*v, "model");
  return as_ids(*t, "tokens", limits);
}

PromptInput parse_state_request(std::string_view body, const RequestLimits& limits) {
  const json j = parse_object(body);
  check_keys(j, {"model", "prompt"});
  auto* p = field(j, "prompt");
  if (!p) fail("prompt", "'prompt' is required");
  if (auto* v = field(j, "model")) as_string(*v, "model");
  if (p->is_string()) return {true, p->get<std::string>(), {}};
  if (p->is_array() && all_integers(*p)) return {false, {}, as_ids(*p, "prompt", limits)};
  fail("prompt", "'prompt' must be a string or a list of token ids");
}

void validate_state_name(std::string_view name) {
  bool ok = !name.empty() && name.size() <= 64 && name[0] != '.';
  for (char c : name) {
    ok = ok && ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                c == '.' || c == '_' || c == '-');
  }
  if (!ok) {
    throw RequestError(400, "name",
                       "state name must be 1 to 64 characters of A-Z a-z 0-9 . _ - and must not "
                       "start with '.'");
  }
}

void check_prompt_length(int64_t prompt_tokens, int64_t max_tokens, const RequestLimits& limits) {
  if (prompt_tokens > limits.ctx_limit) {
    fail("prompt", "the prompt has " + std::to_string(prompt_tokens) +
                       " tokens, more than the server's context limit of " +
                       std::to_string(limits.ctx_limit));
  }
  if (prompt_tokens + max_tokens > limits.ctx_limit) {
    fail("max_tokens", "prompt (" + std::to_string(prompt_tokens) + " tokens) + max_tokens (" +
                           std::to_string(max_tokens) + ") exceeds the server's context limit of " +
                           std::to_string(limits.ctx_limit));
  }
}

}  // namespace xlstm::server
