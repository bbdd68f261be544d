#pragma once
// Pre-tokenization: the file's Split steps in order, then ByteLevel (optional prefix space, then
// the GPT-2 word regex). Words are handed on as raw bytes; the byte-to-character mapping of
// ByteLevel is folded into the BPE tables.
#include <memory>
#include <string_view>
#include <vector>

#include "function_ref.h"
#include "regex.h"
#include "spec.h"

namespace xlstm::tok {

// GPT-2's word regex (as HF's ByteLevel pre-tokenizer spells it).
extern const char* const kGpt2WordPattern;

// Splits s into the matches of kGpt2WordPattern (which cover all of it), calling on_word for
// each. ASCII stretches are matched by hand; a match that involves a non-ASCII character is
// left to `regex`, which must be kGpt2WordPattern compiled.
void split_gpt2_words(std::string_view s, const Regex& regex,
                      FunctionRef<void(std::string_view)> on_word);

class PreTokenizer {
 public:
  explicit PreTokenizer(const TokenizerSpec& spec);

  // Calls on_word for each non-empty word of `text` (valid UTF-8), in order.
  void run(std::string_view text, FunctionRef<void(std::string_view)> on_word) const;

 private:
  struct Step {
    std::unique_ptr<Regex> regex;
    SplitBehavior behavior;
    bool invert;
  };
  void step(size_t k, std::string_view s, FunctionRef<void(std::string_view)> on_word) const;
  void byte_level(std::string_view s, FunctionRef<void(std::string_view)> on_word) const;

  std::vector<Step> steps_;
  ByteLevelSpec byte_level_;
  std::unique_ptr<Regex> words_;  // the GPT-2 regex, when use_regex
};

}  // namespace xlstm::tok
