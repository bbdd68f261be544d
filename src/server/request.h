#pragma once
// Request bodies of the server's endpoints, parsed and validated into plain structs. Nothing here
// touches the model or the network: the parser is fuzzed on its own (fuzz/fuzz_server_request.cpp).
// Every rejection is a RequestError naming the offending field, the way OpenAI's API reports it.
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "xlstm/sampler.h"

namespace xlstm::server {

// An error the client caused: HTTP status, the field it concerns ("" for the whole body) and a
// message that names it.
class RequestError : public std::runtime_error {
 public:
  RequestError(int status, std::string param, const std::string& message)
      : std::runtime_error(message), status_(status), param_(std::move(param)) {}
  int status() const { return status_; }
  const std::string& param() const { return param_; }

 private:
  int status_;
  std::string param_;
};

// What the parser checks against: the model's vocabulary and the server's limits.
struct RequestLimits {
  int64_t vocab_size = 0;
  int64_t ctx_limit = 16384;  // prompt tokens + max_tokens
  int64_t max_n = 16;         // choices per prompt
  int64_t max_prompts = 64;   // prompts per request (a list of prompts)
  int64_t max_logprobs = 20;
  int64_t max_stop = 4;
  int64_t max_stop_bytes = 256;
};

// One prompt: text to be tokenized, or token ids as given (checked against the vocabulary).
struct PromptInput {
  bool is_text = true;
  std::string text;
  std::vector<int32_t> ids;
};

struct CompletionRequest {
  std::string model;
  std::vector<PromptInput> prompts;  // at least one
  int64_t max_tokens = 16;           // OpenAI's default
  SamplingParams sampling;           // temperature 1 unless given (OpenAI's default)
  bool has_seed = false;             // without a seed the server draws one per request
  std::vector<std::string> stop;
  int64_t n = 1;
  int64_t logprobs = -1;  // -1: none; k >= 0: the sampled token's and the top-k log-probabilities
  bool echo = false;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  bool ignore_eos = false;     // keep generating after EOS (vLLM's extension)
  std::string state;           // a named state (--state-dir) the prompt continues
};

// POST /v1/completions. Throws RequestError (400) naming the field.
CompletionRequest parse_completion_request(std::string_view body, const RequestLimits& limits);

// POST /tokenize: {"prompt": "text", "add_special_tokens": true}.
struct TokenizeRequest {
  std::string prompt;
  bool add_special_tokens = true;
};
TokenizeRequest parse_tokenize_request(std::string_view body);

// POST /detokenize: {"tokens": [ids]}.
std::vector<int32_t> parse_detokenize_request(std::string_view body, const RequestLimits& limits);

// POST /v1/states/{name}: {"prompt": text | [ids]}.
PromptInput parse_state_request(std::string_view body, const RequestLimits& limits);

// A state name: [A-Za-z0-9._-]{1,64}, not starting with '.', so that "NAME.safetensors" inside
// the state directory never leaves it. Throws RequestError (400, param "name") otherwise.
void validate_state_name(std::string_view name);

// The checks that need the prompt's tokens: length against the context limit (param "prompt" or
// "max_tokens"). Throws RequestError.
void check_prompt_length(int64_t prompt_tokens, int64_t max_tokens, const RequestLimits& limits);

}  // namespace xlstm::server
