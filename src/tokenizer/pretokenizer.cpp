#include "pretokenizer.h"

#include <algorithm>
#include <string>

#include "xlstm/error.h"

namespace xlstm::tok {
namespace {

// GPT-2's word regex, as HF's ByteLevel pre-tokenizer spells it.
constexpr const char* kGpt2Words =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

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
    steps_.push_back({std::make_unique<Regex>(spec.splits[i].regex, where),
                      spec.splits[i].behavior, spec.splits[i].invert});
  }
  if (byte_level_.use_regex) {
    words_ = std::make_unique<Regex>(kGpt2Words, tagged("tokenizer", "ByteLevel"));
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
  size_t prev = 0;
  words_->find_all(s, [&](size_t b, size_t e) {
    if (prev != b) on_word(s.substr(prev, b - prev));
    if (e != b) on_word(s.substr(b, e - b));
    prev = e;
  });
  if (prev != s.size()) on_word(s.substr(prev));
}

}  // namespace xlstm::tok
