// The server's request bodies (src/server/request.cpp): /v1/completions, /tokenize,
// /detokenize, /v1/states/{name} and state names. The first byte picks the endpoint, the rest is
// the body. A body is either rejected with a RequestError (status 400, the field named in the
// message when there is one) or accepted, and then everything the scheduler relies on holds.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_util.h"
#include "server/request.h"

using namespace xlstm;
using namespace xlstm::server;

namespace {

RequestLimits limits() {
  RequestLimits l;
  l.vocab_size = 2048;
  l.ctx_limit = 4096;
  l.max_n = 8;
  return l;
}

void check_ids(const std::vector<int32_t>& ids, const RequestLimits& l) {
  for (int32_t id : ids)
    if (id < 0 || id >= l.vocab_size) fuzz::finding("accepted token id " + std::to_string(id));
}

void check_completion(const CompletionRequest& r, const RequestLimits& l) {
  if (r.prompts.empty() || static_cast<int64_t>(r.prompts.size()) > l.max_prompts)
    fuzz::finding("accepted " + std::to_string(r.prompts.size()) + " prompts");
  for (const auto& p : r.prompts) check_ids(p.ids, l);
  if (r.max_tokens < 0 || r.max_tokens > l.ctx_limit) fuzz::finding("max_tokens out of range");
  if (r.n < 1 || r.n > l.max_n) fuzz::finding("n out of range");
  if (r.logprobs < -1 || r.logprobs > l.max_logprobs) fuzz::finding("logprobs out of range");
  if (static_cast<int64_t>(r.stop.size()) > l.max_stop) fuzz::finding("too many stop strings");
  for (const auto& s : r.stop)
    if (s.empty() || static_cast<int64_t>(s.size()) > l.max_stop_bytes)
      fuzz::finding("accepted a stop string of " + std::to_string(s.size()) + " bytes");
  if (r.echo && r.logprobs >= 0) fuzz::finding("echo with logprobs accepted");
  validate(r.sampling);  // throws (an uncaught finding) if the sampler would refuse it
  if (!r.state.empty()) validate_state_name(r.state);
}

void check_error(const RequestError& e) {
  if (e.status() != 400) fuzz::finding("parser status " + std::to_string(e.status()));
  if (std::string_view(e.what()).empty()) fuzz::finding("error without a message");
  // what() is a C string: a field name holding a NUL shows up to it; "prompt[3]" names "prompt".
  std::string field = e.param().substr(0, e.param().find('\0'));
  field = field.substr(0, field.find('['));
  if (std::string_view(e.what()).find(field) == std::string_view::npos)
    fuzz::finding("error does not name its field '" + e.param() + "': " + e.what());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  const RequestLimits l = limits();
  try {
    switch (data[0] % 5) {
      case 0:
        check_completion(parse_completion_request(body, l), l);
        break;
      case 1:
        parse_tokenize_request(body);
        break;
      case 2:
        check_ids(parse_detokenize_request(body, l), l);
        break;
      case 3: {
        const PromptInput p = parse_state_request(body, l);
        check_ids(p.ids, l);
        break;
      }
      case 4: {
        validate_state_name(body);
        // An accepted name stays one path component inside the state directory.
        if (body.find('/') != std::string_view::npos || body == "." || body == ".." ||
            body.find('\0') != std::string_view::npos || body.size() > 64 || body[0] == '.')
          fuzz::finding("accepted state name '" + std::string(body) + "'");
        break;
      }
    }
  } catch (const RequestError& e) {
    check_error(e);
  }
  return 0;
}
