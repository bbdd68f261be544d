// tokenizer.json: Tokenizer::from_json (what from_file runs on the file's bytes): the BPE model,
// added tokens, normalizer, pre-tokenizers (Split patterns are user regexes compiled by PCRE2),
// post-processor and decoder. A tokenizer that loads then encodes and decodes text.
//
// Input: the JSON, optionally followed by a NUL byte and text to encode (JSON cannot hold a raw
// NUL, so the split is unambiguous); fixed sample text is encoded too.
//
// Properties: ids are in [0, vocab_size()); decode() and the streaming detokenizer give the same
// valid UTF-8; token_id / id_to_token agree; errors are InvalidInput naming the file.
#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_util.h"
#include "xlstm/tokenizer.h"

using namespace xlstm;

namespace {

// Words, whitespace runs, contractions, digits, other scripts, a combining mark, an emoji, special
// token spellings and invalid UTF-8.
constexpr std::string_view kSample =
    "Hello world!  It's 2024:\tdon't\r\n<|endoftext|> caf\xc3\xa9 e\xcc\x81 "
    "\xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd <s></s>  \xff\xc3 end";

void check_text(const Tokenizer& tok, std::string_view text) {
  const int32_t V = tok.vocab_size();
  for (const bool special : {false, true}) {
    const std::vector<int32_t> ids = tok.encode(text, special);
    for (const int32_t id : ids) {
      if (id < 0 || id >= V)
        fuzz::finding("encode gave id " + std::to_string(id) + " outside [0, " + std::to_string(V) +
                      ")");
    }
    for (const bool skip : {false, true}) {
      const std::string out = tok.decode(ids, skip);
      if (!fuzz::valid_utf8(out)) fuzz::finding("decode() output is not valid UTF-8");
      StreamingDetokenizer stream(tok, skip);
      std::string streamed;
      for (const int32_t id : ids) {
        const std::string piece = stream.push(id);
        if (!fuzz::valid_utf8(piece)) fuzz::finding("push() output is not valid UTF-8");
        streamed += piece;
      }
      streamed += stream.flush();
      if (streamed != out) fuzz::finding("streamed decode differs from decode()");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string source = "fuzz/tokenizer.json";
  const auto* chars = reinterpret_cast<const char*>(data);
  const void* nul = std::memchr(data, 0, size);
  const size_t json_size =
      nul ? static_cast<size_t>(static_cast<const uint8_t*>(nul) - data) : size;
  std::optional<Tokenizer> tok;
  try {
    tok = Tokenizer::from_json(std::string_view(chars, json_size), source);
  } catch (const InvalidInput& e) {
    fuzz::require_named(e, source);
    return 0;
  }
  const int32_t V = tok->vocab_size();
  if (V <= 0) fuzz::finding("vocab_size() = " + std::to_string(V));
  // Every id below a bound: its token, if any, maps back to an id of the same spelling.
  for (int32_t id = 0; id < std::min<int32_t>(V, 512); ++id) {
    const auto token = tok->id_to_token(id);
    if (!token) continue;
    const auto back = tok->token_id(*token);
    if (!back || tok->id_to_token(*back) != token)
      fuzz::finding("token_id(id_to_token(" + std::to_string(id) + ")) does not return it");
  }
  if (tok->id_to_token(-1) || tok->id_to_token(V)) fuzz::finding("id_to_token out of range");
  check_text(*tok, kSample);
  if (nul != nullptr)
    check_text(*tok, std::string_view(chars + json_size + 1, size - json_size - 1));
  // Ids a model could emit that the tokenizer does not know are skipped, not read.
  const std::vector<int32_t> odd = {-1, V, V + 1, 0, V - 1, INT32_MAX};
  if (!fuzz::valid_utf8(tok->decode(odd))) fuzz::finding("decode of odd ids is not valid UTF-8");
  return 0;
}
