#define PCRE2_CODE_UNIT_WIDTH 8
#include "regex.h"

#include <pcre2.h>

#include <cctype>
#include <cstdio>
#include <span>
#include <utility>

#include "unicode_tables.h"

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

void append_ranges(std::string& out, std::span<const CodeRange> ranges) {
  char buf[32];
  for (const CodeRange& r : ranges) {
    std::snprintf(buf, sizeof(buf), "\\x{%X}-\\x{%X}", static_cast<unsigned>(r.lo),
                  static_cast<unsigned>(r.hi));
    out += buf;
  }
}

// The PCRE2 class body for an Oniguruma class escape HF's patterns use, or "" if none.
// Oniguruma (Unicode 16) knows more letters, digits, marks... than PCRE2 10.42 (Unicode 14);
// the extra code points are added from unicode_tables.h. Its \s is exactly White_Space (PCRE2's
// also takes U+180E), and \h is a hex digit.
std::string class_body(std::string_view name) {
  static const std::pair<std::string_view, std::string_view> kNames[] = {
      {"L", "L"},   {"Letter", "L"},          {"N", "N"}, {"Number", "N"},
      {"Nd", "Nd"}, {"Decimal_Number", "Nd"}, {"M", "M"}, {"Mark", "M"},
      {"P", "P"},   {"Punctuation", "P"},     {"S", "S"}, {"Symbol", "S"}};
  if (name == "s") return "\\p{White_Space}";
  if (name == "h") return "0-9a-fA-F";
  if (name == "d") name = "Nd";
  std::string out;
  std::string_view table;
  if (name == "w") {
    out = "\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}";
    table = "Word";
  } else {
    for (const auto& [onig, cls] : kNames) {
      if (name == onig) table = cls;
    }
    if (table.empty()) return "";
    out = "\\p{" + std::string(table) + "}";
  }
  append_ranges(out, regex_class_extra(table));
  return out;
}

// Rewrites the class escapes above so PCRE2 matches what Oniguruma would. Negated escapes
// (\S \D \W \H \P{..}) inside a [...] cannot be rewritten this way and keep PCRE2's meaning.
std::string onig_to_pcre2(const std::string& p) {
  std::string out;
  out.reserve(p.size() + 64);
  bool in_class = false;
  size_t class_first = 0;  // a ']' here is literal
  for (size_t i = 0; i < p.size(); ++i) {
    const char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      const char e = p[i + 1];
      std::string name;
      size_t end = i + 2;  // one past the escape
      bool negated = false;
      if (e == 's' || e == 'S' || e == 'd' || e == 'D' || e == 'w' || e == 'W' || e == 'h' ||
          e == 'H') {
        name = std::string(1, static_cast<char>(std::tolower(static_cast<unsigned char>(e))));
        negated = std::isupper(static_cast<unsigned char>(e));
      } else if ((e == 'p' || e == 'P') && i + 2 < p.size()) {
        negated = e == 'P';
        if (p[i + 2] == '{') {
          const size_t close = p.find('}', i + 3);
          if (close != std::string::npos) {
            name = p.substr(i + 3, close - i - 3);
            end = close + 1;
          }
        } else {
          name = p.substr(i + 2, 1);
          end = i + 3;
        }
      }
      const std::string body = name.empty() ? "" : class_body(name);
      if (!body.empty() && (!negated || !in_class)) {
        out += in_class ? body : (negated ? "[^" : "[") + body + "]";
      } else {
        out.append(p, i, (name.empty() ? i + 2 : end) - i);
      }
      i = (name.empty() ? i + 2 : end) - 1;
      continue;
    }
    if (in_class) {
      if (c == '[' && i + 1 < p.size() && p[i + 1] == ':') {  // POSIX [:name:]
        const size_t close = p.find(":]", i + 2);
        if (close != std::string::npos) {
          out.append(p, i, close + 2 - i);
          i = close + 1;
          continue;
        }
      }
      if (c == ']' && i != class_first) in_class = false;
    } else if (c == '[') {
      in_class = true;
      class_first = (i + 1 < p.size() && p[i + 1] == '^') ? i + 2 : i + 1;
    }
    out.push_back(c);
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

Regex::~Regex() {
  pcre2_code_free(code_);
}

bool Regex::find_at(std::string_view s, size_t start, size_t& begin, size_t& end) const {
  Scratch& sc = scratch();
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(s.data());
  const int rc =
      jit_ ? pcre2_jit_match(code_, subject, s.size(), start, 0, sc.data, sc.context)
           : pcre2_match(code_, subject, s.size(), start, PCRE2_NO_UTF_CHECK, sc.data, sc.context);
  if (rc == PCRE2_ERROR_NOMATCH) return false;
  if (rc < 0) throw Error(tagged("tokenizer", "regex match failed: " + pcre2_message(rc)));
  const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(sc.data);
  begin = ov[0];
  end = ov[1];
  return true;
}

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
