// Encode/decode round trip on the bundled tokenizers (byte-level BPE: every byte has a token, the
// ByteLevel decoder maps tokens back to their bytes, added tokens decode to their content):
//   decode(encode(x)) == x        for valid UTF-8 x the normalizer leaves unchanged;
//   y = decode(encode(x)) is a fixed point, decode(encode(y)) == y, otherwise (invalid UTF-8
//   becomes U+FFFD, NFC composes; both are idempotent).
// Also: ids in range, output valid UTF-8, the streaming detokenizer equals decode().
// NFC-stability of x is judged by utf8proc here, not by the tokenizer's own normalizer.
#include <utf8proc.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_util.h"
#include "xlstm/tokenizer.h"

using namespace xlstm;

namespace {

struct Case {
  const char* path;  // relative to the source tree
  bool nfc;          // the file's normalizer is NFC
};
constexpr Case kCases[] = {{"models/tokenizers/gpt-neox-20b/tokenizer.json", true},
                           {"models/tiny-shakespeare/tokenizer.json", false}};

std::vector<Tokenizer>& tokenizers() {
  static std::vector<Tokenizer> all = [] {
    std::vector<Tokenizer> out;
    for (const Case& c : kCases)
      out.push_back(Tokenizer::from_file(std::string(XLSTM_SOURCE_DIR) + "/" + c.path));
    return out;
  }();
  return all;
}

bool nfc_stable(std::string_view s) {
  utf8proc_uint8_t* dst = nullptr;
  const utf8proc_ssize_t n = utf8proc_map(
      reinterpret_cast<const utf8proc_uint8_t*>(s.data()), static_cast<utf8proc_ssize_t>(s.size()),
      &dst, static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  const std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> owned(dst, &std::free);
  if (n < 0) fuzz::finding(std::string("utf8proc refused valid UTF-8: ") + utf8proc_errmsg(n));
  return std::string_view(reinterpret_cast<const char*>(dst), static_cast<size_t>(n)) == s;
}

std::string round_trip(const Tokenizer& tok, std::string_view text, const char* name) {
  const std::vector<int32_t> ids = tok.encode(text, /*add_special_tokens=*/false);
  for (const int32_t id : ids) {
    if (id < 0 || id >= tok.vocab_size())
      fuzz::finding(std::string(name) + ": id " + std::to_string(id) + " out of range");
  }
  std::string out = tok.decode(ids);
  StreamingDetokenizer stream(tok);
  std::string streamed;
  for (const int32_t id : ids) streamed += stream.push(id);
  streamed += stream.flush();
  if (streamed != out) fuzz::finding(std::string(name) + ": streamed decode differs from decode()");
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  tokenizers();  // loaded once, outside the timed runs
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view x(reinterpret_cast<const char*>(data), size);
  const bool valid = fuzz::valid_utf8(x);
  for (size_t i = 0; i < std::size(kCases); ++i) {
    const Tokenizer& tok = tokenizers()[i];
    const char* name = kCases[i].path;
    const std::string y = round_trip(tok, x, name);
    if (!fuzz::valid_utf8(y)) fuzz::finding(std::string(name) + ": decode() is not valid UTF-8");
    if (valid && (!kCases[i].nfc || nfc_stable(x))) {
      if (y != x) fuzz::finding(std::string(name) + ": decode(encode(x)) != x");
    } else if (round_trip(tok, y, name) != y) {
      fuzz::finding(std::string(name) + ": decode(encode(y)) != y for y = decode(encode(x))");
    }
  }
  return 0;
}
