#include "added_tokens.h"

#include <algorithm>
#include <cstring>

#include "utf8.h"

namespace xlstm::tok {

AddedTokenMatcher::AddedTokenMatcher(const std::vector<Token>& tokens) : tokens_(tokens) {
  root_.fill(-1);
  nodes_.emplace_back();
  std::erase_if(tokens_, [](const Token& t) { return t.pattern.empty(); });
  for (size_t t = 0; t < tokens_.size(); ++t) {
    const std::string& p = tokens_[t].pattern;
    int32_t node = 0;
    for (size_t k = 0; k < p.size(); ++k) {
      const auto c = static_cast<unsigned char>(p[k]);
      auto& next = nodes_[node].next;
      const auto it = std::find_if(next.begin(), next.end(), [c](auto& e) { return e.first == c; });
      if (it != next.end()) {
        node = it->second;
        continue;
      }
      const auto child = static_cast<int32_t>(nodes_.size());
      nodes_[node].next.emplace_back(c, child);
      if (node == 0) root_[c] = child;
      nodes_.emplace_back();
      node = child;
    }
    if (nodes_[node].token < 0) nodes_[node].token = static_cast<int32_t>(t);
    const auto b0 = static_cast<unsigned char>(p[0]);
    for (int b1 = 0; b1 < 256; ++b1) {
      if (p.size() == 1 || static_cast<unsigned char>(p[1]) == b1) {
        const int bit = b0 << 8 | b1;
        first_pairs_[bit >> 6] |= uint64_t{1} << (bit & 63);
      }
    }
  }
  if (nodes_[0].next.size() == 1) first_byte_ = nodes_[0].next[0].first;
}

int32_t AddedTokenMatcher::longest_at(std::string_view s, size_t i, size_t& len) const {
  int32_t node = root_[static_cast<unsigned char>(s[i])];
  int32_t best = -1;
  for (size_t k = i + 1;; ++k) {
    if (nodes_[node].token >= 0) {
      best = nodes_[node].token;
      len = k - i;
    }
    if (k >= s.size()) break;
    const auto c = static_cast<unsigned char>(s[k]);
    const auto& next = nodes_[node].next;
    const auto it = std::find_if(next.begin(), next.end(), [c](auto& e) { return e.first == c; });
    if (it == next.end()) break;
    node = it->second;
  }
  return best;
}

namespace {

// Start of the whitespace run that ends s (HF: regex `\s*$`).
size_t trailing_space_start(std::string_view s) {
  size_t i = s.size();
  while (i > 0) {
    size_t j = i - 1;
    while (j > 0 && (static_cast<unsigned char>(s[j]) & 0xC0) == 0x80) --j;
    size_t len = 0;
    if (!is_white_space(decode_at(s, j, len))) break;
    i = j;
  }
  return i;
}

// Length of the whitespace run that starts s (HF: regex `^\s*`).
size_t leading_space_len(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    size_t len = 0;
    if (!is_white_space(decode_at(s, i, len))) break;
    i += len;
  }
  return i;
}

}  // namespace

void AddedTokenMatcher::split(std::string_view s, std::vector<Piece>& out) const {
  size_t start_offset = 0;
  size_t pos = 0;
  while (pos < s.size()) {
    // Next leftmost-longest match at or after pos.
    size_t mstart = pos, mlen = 0;
    int32_t t = -1;
    for (; mstart < s.size(); ++mstart) {
      if (first_byte_ >= 0) {
        const void* hit = std::memchr(s.data() + mstart, first_byte_, s.size() - mstart);
        if (hit == nullptr) break;
        mstart = static_cast<const char*>(hit) - s.data();
      }
      const auto b0 = static_cast<unsigned char>(s[mstart]);
      if (root_[b0] < 0) continue;
      if (mstart + 1 < s.size()) {
        const int bit = b0 << 8 | static_cast<unsigned char>(s[mstart + 1]);
        if (!(first_pairs_[bit >> 6] >> (bit & 63) & 1)) continue;
      }
      t = longest_at(s, mstart, mlen);
      if (t >= 0) break;
    }
    if (t < 0) break;
    size_t start = mstart, stop = mstart + mlen;
    pos = stop;
    const Token& tok = tokens_[t];
    if (tok.single_word) {
      const bool space_before = start == 0 || !is_word_char(last_char(s.substr(0, start)));
      size_t len = 0;
      const bool space_after = stop == s.size() || !is_word_char(decode_at(s, stop, len));
      if (!space_before || !space_after) continue;
    }
    // The whitespace around the token joins it, never reaching into an earlier match.
    if (tok.lstrip) start = std::max(trailing_space_start(s.substr(0, start)), start_offset);
    if (tok.rstrip) stop += leading_space_len(s.substr(stop));
    if (start_offset < start) out.push_back({-1, start_offset, start});
    out.push_back({tok.id, start, stop});
    start_offset = stop;
  }
  if (start_offset != s.size()) out.push_back({-1, start_offset, s.size()});
}

}  // namespace xlstm::tok
