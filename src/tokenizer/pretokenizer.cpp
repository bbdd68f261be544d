#include "pretokenizer.h"

#include <algorithm>
#include <cstdint>
#include <string>

#include "xlstm/error.h"

namespace xlstm::tok {
namespace {

enum CharClass : uint8_t { kOther, kLetter, kDigit, kSpace, kNonAscii };

struct AsciiClasses {
  CharClass c[256];
  constexpr AsciiClasses() : c() {
    for (int b = 0; b < 256; ++b) {
      c[b] = b >= 0x80                                          ? kNonAscii
             : (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') ? kLetter
             : b >= '0' && b <= '9'                             ? kDigit
             : (b >= 0x09 && b <= 0x0D) || b == ' '             ? kSpace
                                                                : kOther;
    }
  }
};
constexpr AsciiClasses kAscii;

// Length of the kGpt2WordPattern match at s[i] when deciding it needs only ASCII characters,
// else 0. Alternatives in pattern order: contractions; ' ?' then a run of letters, digits or
// others; a whitespace run that leaves its last character to the next word when a non-space
// follows (\s+(?!\S)), or a single whitespace character (\s+).
size_t ascii_gpt2_match(std::string_view s, size_t i) {
  const size_t n = s.size();
  const auto cls = [&](size_t k) { return kAscii.c[static_cast<unsigned char>(s[k])]; };
  const CharClass c = cls(i);
  if (c == kNonAscii) return 0;
  if (s[i] == '\'' && i + 1 < n) {
    const char a = s[i + 1];
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if (i + 2 < n) {
      const char b = s[i + 2];
      if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    }
  }
  size_t j = i;  // first character of the run
  CharClass run = c;
  if (s[i] == ' ' && i + 1 < n) {
    const CharClass d = cls(i + 1);
    if (d == kNonAscii) return 0;
    if (d != kSpace) {
      j = i + 1;
      run = d;
    }
  }
  size_t k = j + 1;
  while (k < n && cls(k) == run) ++k;
  if (k < n && cls(k) == kNonAscii) return 0;  // it might continue the run or be a space
  if (run != kSpace || k == n) return k - i;
  return k - i > 1 ? k - i - 1 : 1;
}

struct Span {
  size_t begin, end;
  bool match;
};

// HF NormalizedString::split: the (begin, end) pieces a Split step keeps, from the regex's
// matches and the gaps between them (which together cover s).
void apply_behavior(std::vector<Span>& m, SplitBehavior behavior) {
  std::vector<Span> out;
  out.reserve(m.size());
  bool previous_match = false;
  switch (behavior) {
    case SplitBehavior::Isolated:
      return;
    case SplitBehavior::Removed:
      for (const Span& x : m) {
        if (!x.match) out.push_back(x);
      }
      break;
    case SplitBehavior::Contiguous:
      for (const Span& x : m) {
        if (x.match == previous_match && !out.empty()) {
          out.back().end = x.end;
        } else {
          out.push_back(x);
        }
        previous_match = x.match;
      }
      break;
    case SplitBehavior::MergedWithPrevious:
      for (const Span& x : m) {
        if (x.match && !previous_match && !out.empty()) {
          out.back().end = x.end;
        } else {
          out.push_back(x);
        }
        previous_match = x.match;
      }
      break;
    case SplitBehavior::MergedWithNext:
      for (size_t i = m.size(); i-- > 0;) {
        const Span& x = m[i];
        if (x.match && !previous_match && !out.empty()) {
          out.back().begin = x.begin;
        } else {
          out.push_back(x);
        }
        previous_match = x.match;
      }
      std::reverse(out.begin(), out.end());
      break;
  }
  m.swap(out);
}

}  // namespace

PreTokenizer::PreTokenizer(const TokenizerSpec& spec) : byte_level_(spec.byte_level) {
  for (size_t i = 0; i < spec.splits.size(); ++i) {
    const std::string where =
        tagged("tokenizer", spec.file + ": pre_tokenizer Split #" + std::to_string(i + 1));
    steps_.push_back({std::make_unique<Regex>(spec.splits[i].regex, where), spec.splits[i].behavior,
                      spec.splits[i].invert});
  }
  if (byte_level_.use_regex) {
    words_ = std::make_unique<Regex>(kGpt2WordPattern, tagged("tokenizer", "ByteLevel"));
  }
}

void PreTokenizer::run(std::string_view text, FunctionRef<void(std::string_view)> on_word) const {
  step(0, text, on_word);
}

void PreTokenizer::step(size_t k, std::string_view s,
                        FunctionRef<void(std::string_view)> on_word) const {
  if (s.empty()) return;  // HF drops empty splits
  if (k == steps_.size()) {
    byte_level(s, on_word);
    return;
  }
  const Step& st = steps_[k];
  std::vector<Span> m;
  size_t prev = 0;
  st.regex->find_all(s, [&](size_t b, size_t e) {
    if (prev != b) m.push_back({prev, b, false});
    m.push_back({b, e, true});
    prev = e;
  });
  if (prev != s.size()) m.push_back({prev, s.size(), false});
  if (st.invert) {
    for (Span& x : m) x.match = !x.match;
  }
  apply_behavior(m, st.behavior);
  for (const Span& x : m) step(k + 1, s.substr(x.begin, x.end - x.begin), on_word);
}

void PreTokenizer::byte_level(std::string_view s,
                              FunctionRef<void(std::string_view)> on_word) const {
  std::string prefixed;
  if (byte_level_.add_prefix_space && s.front() != ' ') {
    prefixed.reserve(s.size() + 1);
    prefixed.push_back(' ');
    prefixed.append(s);
    s = prefixed;
  }
  if (!words_) {
    on_word(s);
    return;
  }
  split_gpt2_words(s, *words_, on_word);
}

const char* const kGpt2WordPattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

void split_gpt2_words(std::string_view s, const Regex& regex,
                      FunctionRef<void(std::string_view)> on_word) {
  size_t i = 0;
  while (i < s.size()) {
    size_t len = ascii_gpt2_match(s, i);
    if (len == 0) {
      size_t b = 0, e = 0;
      if (!regex.find_at(s, i, b, e) || e <= i) {  // not reached: the pattern covers all text
        on_word(s.substr(i));
        return;
      }
      if (b > i) on_word(s.substr(i, b - i));
      on_word(s.substr(b, e - b));
      i = e;
      continue;
    }
    on_word(s.substr(i, len));
    i += len;
  }
}

}  // namespace xlstm::tok
