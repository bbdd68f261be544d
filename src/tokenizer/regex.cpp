#define PCRE2_CODE_UNIT_WIDTH 8
#include "regex.h"

#include <pcre2.h>

#include "xlstm/error.h"

namespace xlstm::tok {
namespace {

// Per-thread match state, shared by all patterns: one ovector pair and a JIT stack large enough
// for long whitespace runs and words.
struct Scratch {
  pcre2_match_data* data = pcre2_match_data_create(1, nullptr);
  pcre2_match_context* context = pcre2_match_context_create(nullptr);
  pcre2_jit_stack* stack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, nullptr);
  Scratch() { pcre2_jit_stack_assign(context, nullptr, stack); }
  ~Scratch() {
    pcre2_jit_stack_free(stack);
    pcre2_match_context_free(context);
    pcre2_match_data_free(data);
  }
};

Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

// HF compiles patterns with Oniguruma, whose \s is Unicode White_Space; PCRE2's \s (with UCP)
// also takes U+180E. Spelling the property out makes the two agree, inside classes too.
std::string onig_to_pcre2(const std::string& pattern) {
  std::string out;
  out.reserve(pattern.size() + 16);
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] != '\\' || i + 1 == pattern.size()) {
      out.push_back(pattern[i]);
      continue;
    }
    const char c = pattern[++i];
    if (c == 's') {
      out += "\\p{White_Space}";
    } else if (c == 'S') {
      out += "\\P{White_Space}";
    } else {
      out.push_back('\\');
      out.push_back(c);
    }
  }
  return out;
}

std::string pcre2_message(int code) {
  PCRE2_UCHAR buf[256];
  pcre2_get_error_message(code, buf, sizeof(buf));
  return reinterpret_cast<const char*>(buf);
}

}  // namespace

Regex::Regex(const std::string& source, const std::string& where) {
  const std::string pattern = onig_to_pcre2(source);
  int err = 0;
  PCRE2_SIZE offset = 0;
  code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                        PCRE2_UTF | PCRE2_UCP, &err, &offset, nullptr);
  if (code_ == nullptr) {
    throw InvalidInput(where + ": bad regex at offset " + std::to_string(offset) + " (" +
                       pcre2_message(err) + "): " + source);
  }
  jit_ = pcre2_jit_compile(code_, PCRE2_JIT_COMPLETE) == 0;
}

Regex::~Regex() { pcre2_code_free(code_); }

void Regex::find_all(std::string_view s, FunctionRef<void(size_t, size_t)> on_match) const {
  Scratch& sc = scratch();
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(s.data());
  const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(sc.data);
  size_t at = 0;
  size_t last_end = static_cast<size_t>(-1);
  while (at <= s.size()) {
    const int rc =
        jit_ ? pcre2_jit_match(code_, subject, s.size(), at, 0, sc.data, sc.context)
             : pcre2_match(code_, subject, s.size(), at, PCRE2_NO_UTF_CHECK, sc.data, sc.context);
    if (rc == PCRE2_ERROR_NOMATCH) return;
    if (rc < 0) throw Error(tagged("tokenizer", "regex match failed: " + pcre2_message(rc)));
    const size_t b = ov[0], e = ov[1];
    if (b == e && e == last_end) {
      // Step over one character and search again.
      if (at >= s.size()) return;
      ++at;
      while (at < s.size() && (static_cast<unsigned char>(s[at]) & 0xC0) == 0x80) ++at;
      continue;
    }
    on_match(b, e);
    at = e;
    last_end = e;
  }
}

}  // namespace xlstm::tok
