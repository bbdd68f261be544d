#pragma once
// What a tokenizer.json says, checked and flattened: the loader's output and the builder's input.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace xlstm::tok {

// Ids above this are refused at load: tables are indexed by id.
constexpr int32_t kMaxTokenId = (1 << 22) - 1;

[[noreturn]] void fail(const std::string& file, const std::string& what);

struct AddedTokenSpec {
  std::string content;
  int32_t id = 0;
  bool special = false;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = true;
};

enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

struct SplitSpec {
  std::string regex;  // PCRE2 source; String patterns arrive escaped
  SplitBehavior behavior = SplitBehavior::Isolated;
  bool invert = false;
};

struct ByteLevelSpec {
  bool add_prefix_space = true;
  bool use_regex = true;
};

struct BpeSpec {
  std::vector<std::pair<std::string, int32_t>> vocab;
  std::vector<std::pair<std::string, std::string>> merges;  // in rank order
  std::optional<std::string> unk_token;
  bool fuse_unk = false;
  bool ignore_merges = false;
};

struct TokenizerSpec {
  std::string file;  // labels errors
  BpeSpec model;
  std::vector<AddedTokenSpec> added_tokens;
  bool nfc = false;
  std::vector<SplitSpec> splits;  // Split steps, in order, before the ByteLevel step
  ByteLevelSpec byte_level;
  // Post-processor (single sequence): ids placed before and after the encoded text.
  std::vector<int32_t> prefix_ids, suffix_ids;
};

TokenizerSpec parse_tokenizer_json(std::string_view json, const std::string& file);

}  // namespace xlstm::tok
