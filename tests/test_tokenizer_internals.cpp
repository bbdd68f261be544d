// The tokenizer's fast paths against plain references: the hand-written GPT-2 word splitter
// against the regex, the heap BPE against the textbook lowest-rank-first loop, the word cache
// against a std::map, lossy UTF-8 against a byte-by-byte decoder.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "tokenizer/bpe.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/regex.h"
#include "tokenizer/spec.h"
#include "tokenizer/utf8.h"

namespace {

using namespace xlstm::tok;

std::string random_text(std::mt19937& rng, size_t max_len) {
  static const std::vector<std::string> pieces = {
      "a",      "Z",      "q",      "0",      "9",      " ",   " ",    "  ",   "\t",  "\n",
      "\r\n",   "\x0b",   "'",      "'s",     "'re",    "'LL", "'ll",  "'d",   "'m",  "'t",
      "'ve",    "!",      "?",      ".",      "-",      "_",   "\"",   "é",    "日",  "😀",
      "\u3000", "\u00a0", "\u2028", "\u180e", "\u0301", "٣",   "\x1c", "\x7f", "\x00"};
  std::string s;
  const size_t n = rng() % max_len;
  for (size_t i = 0; i < n; ++i) s += pieces[rng() % pieces.size()];
  return s;
}

TEST(Gpt2Split, MatchesTheRegex) {
  const Regex regex(kGpt2WordPattern, "test");
  std::mt19937 rng(3);
  for (int iter = 0; iter < 20000; ++iter) {
    const std::string s = random_text(rng, 40);
    std::vector<std::string> want, got;
    size_t prev = 0;
    regex.find_all(s, [&](size_t b, size_t e) {
      if (b != prev) want.push_back(s.substr(prev, b - prev));
      want.push_back(s.substr(b, e - b));
      prev = e;
    });
    if (prev != s.size()) want.push_back(s.substr(prev));
    split_gpt2_words(s, regex, [&](std::string_view w) { got.emplace_back(w); });
    ASSERT_EQ(got, want) << "input: " << s;
  }
}

class BpeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::ifstream in(std::string(XLSTM_SOURCE_DIR) +
                     "/models/tokenizers/gpt-neox-20b/tokenizer.json");
    std::stringstream ss;
    ss << in.rdbuf();
    spec_ = new TokenizerSpec(parse_tokenizer_json(ss.str(), "neox"));
    vocab_ = new StringMap();
    for (const auto& [t, id] : spec_->model.vocab) vocab_->emplace(t, id);
    for (size_t i = 0; i < spec_->model.merges.size(); ++i) {
      const auto& [a, b] = spec_->model.merges[i];
      ranks_[{a, b}] = static_cast<int>(i);
    }
    bpe_ = new Bpe(*spec_, *vocab_);
  }

  // Textbook BPE over byte-level strings: merge the lowest-ranked adjacent pair (leftmost on
  // ties) until none is left. Bytes without a token (the 20B vocab lacks a few that UTF-8 never
  // uses) are dropped, as HF does without an unk_token.
  static std::vector<int32_t> reference(std::string_view word) {
    std::vector<std::string> sym;
    for (const char c : word) {
      std::string s = bytes_to_byte_level(std::string(1, c));
      if (vocab_->count(s)) sym.push_back(std::move(s));
    }
    for (;;) {
      int best = -1;
      size_t at = 0;
      for (size_t i = 0; i + 1 < sym.size(); ++i) {
        const auto it = ranks_.find({sym[i], sym[i + 1]});
        if (it != ranks_.end() && (best < 0 || it->second < best)) {
          best = it->second;
          at = i;
        }
      }
      if (best < 0) break;
      sym[at] += sym[at + 1];
      sym.erase(sym.begin() + static_cast<long>(at) + 1);
    }
    std::vector<int32_t> ids;
    for (const auto& s : sym) ids.push_back(vocab_->at(s));
    return ids;
  }

  static TokenizerSpec* spec_;
  static StringMap* vocab_;
  static Bpe* bpe_;
  static std::map<std::pair<std::string, std::string>, int> ranks_;
};

TokenizerSpec* BpeTest::spec_ = nullptr;
StringMap* BpeTest::vocab_ = nullptr;
Bpe* BpeTest::bpe_ = nullptr;
std::map<std::pair<std::string, std::string>, int> BpeTest::ranks_;

TEST_F(BpeTest, MatchesTextbookMerging) {
  std::mt19937 rng(8);
  const std::string letters = "etaoinshrdlucmfwypvbgkjqxz ETAOIN'!.,0123456789";
  for (int iter = 0; iter < 3000; ++iter) {
    std::string w;
    const size_t n = 1 + rng() % 24;
    for (size_t i = 0; i < n; ++i) {
      w.push_back(rng() % 8 == 0 ? static_cast<char>(rng() % 256)
                                 : letters[rng() % letters.size()]);
    }
    std::vector<int32_t> got;
    bpe_->encode_word(w, got, nullptr);
    ASSERT_EQ(got, reference(w)) << "word: " << w;
  }
}

TEST_F(BpeTest, CacheReturnsWhatItWasGiven) {
  WordCache cache;
  std::map<std::string, std::vector<int32_t>> want;
  std::mt19937 rng(4);
  for (int i = 0; i < 50000; ++i) {
    std::string w(1 + rng() % 40, 'a');
    for (char& c : w) c = static_cast<char>('a' + rng() % 26);
    std::vector<int32_t> ids;
    bpe_->encode_word(w, ids, nullptr);
    cache.put(w, ids.data(), ids.size());
    want.emplace(w, ids);
  }
  for (const auto& [w, ids] : want) {
    std::vector<int32_t> got{-7};
    ASSERT_TRUE(cache.get(w, got)) << w;
    got.erase(got.begin());
    ASSERT_EQ(got, ids) << w;
  }
  std::vector<int32_t> none;
  EXPECT_FALSE(cache.get("not-a-cached-word!", none));
  EXPECT_FALSE(cache.get(std::string(300, 'a'), none));  // longer than kMaxWord
}

// Byte-by-byte reference for maximal-subpart U+FFFD replacement.
std::string reference_lossy(const std::string& in) {
  std::string out;
  size_t i = 0;
  while (i < in.size()) {
    const auto b = static_cast<unsigned char>(in[i]);
    size_t need = b < 0x80 ? 1 : b < 0xC2 ? 0 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : b < 0xF5 ? 4 : 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (b == 0xE0) lo = 0xA0;
    if (b == 0xED) hi = 0x9F;
    if (b == 0xF0) lo = 0x90;
    if (b == 0xF4) hi = 0x8F;
    size_t k = 1;
    while (need > 1 && k < need && i + k < in.size()) {
      const auto c = static_cast<unsigned char>(in[i + k]);
      if (k == 1 ? (c < lo || c > hi) : (c & 0xC0) != 0x80) break;
      ++k;
    }
    if (need != 0 && k == need) {
      out.append(in, i, need);
    } else {
      out += "\xEF\xBF\xBD";
    }
    i += need == 0 ? 1 : k;
  }
  return out;
}

TEST(Utf8, LossyMatchesReferenceAndStreams) {
  std::mt19937 rng(2);
  const std::string valid = "aé日😀";
  for (int iter = 0; iter < 20000; ++iter) {
    std::string s;
    const size_t n = rng() % 24;
    for (size_t i = 0; i < n; ++i) {
      if (rng() % 2) {
        s.push_back(static_cast<char>(rng() % 256));
      } else {
        const size_t start = rng() % valid.size();
        s += valid.substr(start, 1 + rng() % 4);
      }
    }
    std::string got;
    append_lossy(got, s);
    const std::string want = reference_lossy(s);
    ASSERT_EQ(got, want);
    EXPECT_EQ(is_valid_utf8(s), want == s);
    // Emitting all but the incomplete tail after each byte adds up to the same text.
    std::string pending, streamed;
    for (const char c : s) {
      pending.push_back(c);
      const size_t ready = pending.size() - incomplete_tail(pending);
      append_lossy(streamed, std::string_view(pending).substr(0, ready));
      pending.erase(0, ready);
      ASSERT_LE(pending.size(), 3u);
    }
    append_lossy(streamed, pending);
    ASSERT_EQ(streamed, want);
  }
}

TEST(ByteLevel, RoundTripsAllBytes) {
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  const std::string mapped = bytes_to_byte_level(all);
  std::string back;
  ASSERT_TRUE(byte_level_to_bytes(mapped, back));
  EXPECT_EQ(back, all);
  EXPECT_EQ(bytes_to_byte_level(" "), "Ġ");
  EXPECT_FALSE(byte_level_to_bytes("a b", back));  // ' ' is not one of the 256 characters
}

}  // namespace
