#pragma once
// Finds added tokens in text the way HF's AddedVocabulary does: leftmost-longest matches
// (Aho-Corasick LeftmostLongest), then the single_word / lstrip / rstrip rules.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace xlstm::tok {

struct Piece {
  int32_t id;  // the added token's id, or -1 for text between tokens
  size_t begin, end;
};

class AddedTokenMatcher {
 public:
  struct Token {
    std::string pattern;
    int32_t id;
    bool single_word, lstrip, rstrip;
  };
  // Earlier tokens win when two patterns are equal.
  explicit AddedTokenMatcher(const std::vector<Token>& tokens);

  bool empty() const { return tokens_.empty(); }
  // Appends pieces of `s` to `out` in order: added tokens and the text between them. With
  // lstrip/rstrip the whitespace around a token belongs to the token.
  void split(std::string_view s, std::vector<Piece>& out) const;

 private:
  struct Node {
    std::vector<std::pair<unsigned char, int32_t>> next;
    int32_t token = -1;  // index into tokens_ when a pattern ends here
  };
  // Longest pattern starting at s[i]: index into tokens_ (or -1) and its length.
  int32_t longest_at(std::string_view s, size_t i, size_t& len) const;

  std::vector<Token> tokens_;
  std::vector<Node> nodes_;  // trie; nodes_[0] is the root
  std::array<int32_t, 256> root_{};
  // Bit (b0 << 8 | b1): some pattern starts with bytes b0 b1, or is the single byte b0.
  std::vector<uint64_t> first_pairs_ = std::vector<uint64_t>(1024);
  int first_byte_ = -1;  // the byte every pattern starts with, if they share one (memchr)
};

}  // namespace xlstm::tok
