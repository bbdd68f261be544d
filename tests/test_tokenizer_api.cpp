// Tokenizer API behaviour beyond the parity fixtures: lookups, special tokens, streaming across
// split characters, very long inputs, concurrent use.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "xlstm/tokenizer.h"

namespace {

using xlstm::StreamingDetokenizer;
using xlstm::Tokenizer;

const Tokenizer& neox() {
  static const Tokenizer t = Tokenizer::from_file(std::string(XLSTM_SOURCE_DIR) +
                                                  "/models/tokenizers/gpt-neox-20b/tokenizer.json");
  return t;
}

Tokenizer tiny(const std::string& name) {
  return Tokenizer::from_file(std::string(XLSTM_FIXTURES_DIR) + "/tokenizer/" + name + ".json");
}

std::string shakespeare() {
  std::ifstream in(std::string(XLSTM_SOURCE_DIR) + "/data/tinyshakespeare.txt");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(TokenizerApi, Lookups) {
  const Tokenizer& tok = neox();
  EXPECT_EQ(tok.vocab_size(), 50277);
  EXPECT_EQ(tok.token_id("<|endoftext|>"), 0);
  EXPECT_EQ(tok.token_id("Ġworld"), 1533);
  EXPECT_EQ(tok.token_id("  "), 50276);
  EXPECT_EQ(tok.token_id("no such token"), std::nullopt);
  EXPECT_EQ(tok.id_to_token(1533), "Ġworld");
  EXPECT_EQ(tok.id_to_token(0), "<|endoftext|>");
  EXPECT_EQ(tok.id_to_token(-1), std::nullopt);
  EXPECT_EQ(tok.id_to_token(50277), std::nullopt);
  EXPECT_TRUE(tok.is_special(0));
  EXPECT_TRUE(tok.is_special(1));
  EXPECT_FALSE(tok.is_special(50276));  // "  " is an added token, not a special one
  EXPECT_FALSE(tok.is_special(1533));
  EXPECT_FALSE(tok.is_special(-5));
}

TEST(TokenizerApi, EncodeDecode) {
  const Tokenizer& tok = neox();
  EXPECT_EQ(tok.encode("Hello world"), (std::vector<int32_t>{12092, 1533}));
  EXPECT_EQ(tok.encode("a  b"), (std::vector<int32_t>{66, 50276, 67}));
  EXPECT_EQ(tok.encode("<|endoftext|>hi<|endoftext|>"), (std::vector<int32_t>{0, 5801, 0}));
  EXPECT_EQ(tok.encode(""), std::vector<int32_t>{});
  // Invalid UTF-8 is encoded as U+FFFD.
  EXPECT_EQ(tok.encode("\xff"), tok.encode("\xEF\xBF\xBD"));
  EXPECT_EQ(tok.encode("a\xe2\x82z"), tok.encode("a\xEF\xBF\xBDz"));

  const std::vector<int32_t> ids{0, 5801, 0};
  EXPECT_EQ(tok.decode(ids), "<|endoftext|>hi<|endoftext|>");
  EXPECT_EQ(tok.decode(ids, true), "hi");
  // Unknown ids are skipped.
  EXPECT_EQ(tok.decode(std::vector<int32_t>{5801, -1, 999999, 1533}), "hi world");
}

TEST(TokenizerApi, TemplateAddsBos) {
  const Tokenizer tok = tiny("tiny_prefix");
  const auto with = tok.encode("To be");
  const auto without = tok.encode("To be", false);
  ASSERT_EQ(with.size(), without.size() + 1);
  EXPECT_EQ(with[0], tok.token_id("<|bos|>"));
  EXPECT_TRUE(tok.is_special(with[0]));
  EXPECT_EQ(std::vector<int32_t>(with.begin() + 1, with.end()), without);
  EXPECT_EQ(tok.encode(""), std::vector<int32_t>{with[0]});
}

TEST(TokenizerApi, CopiesShareTheTables) {
  Tokenizer copy = tiny("tiny_split");
  {
    const Tokenizer original = tiny("tiny_prefix");
    copy = original;
  }
  EXPECT_EQ(copy.encode("To be", false), tiny("tiny_prefix").encode("To be", false));
}

TEST(StreamingDetokenizer, HoldsSplitCharacters) {
  const Tokenizer& tok = neox();
  // "😀" is F0 9F 98 80; the 20B vocab splits it into byte tokens.
  const auto ids = tok.encode("a😀b");
  ASSERT_GT(ids.size(), 3u);
  StreamingDetokenizer detok(tok);
  std::vector<std::string> out;
  for (const int32_t id : ids) out.push_back(detok.push(id));
  EXPECT_EQ(out.front(), "a");
  std::string all;
  for (size_t i = 0; i < out.size(); ++i) {
    all += out[i];
    if (i + 1 < out.size() - 1) {
      EXPECT_EQ(all, "a") << "emitted a partial character";
    }
  }
  EXPECT_EQ(all, "a😀b");
  EXPECT_EQ(detok.flush(), "");
}

TEST(StreamingDetokenizer, InvalidBytesBecomeReplacementCharacters) {
  const Tokenizer& tok = neox();
  // Byte-level tokens: "\xC3\xA2" (â) stands for byte 0xE2, a 3-byte lead; "\xC2\xA9" (©) for
  // 0xA9, a continuation byte.
  const int32_t lead = *tok.token_id("\xC3\xA2");
  const int32_t cont = *tok.token_id("\xC2\xA9");
  const int32_t z = *tok.token_id("z");
  StreamingDetokenizer detok(tok);
  EXPECT_EQ(detok.push(cont), "\xEF\xBF\xBD");  // can never start a character
  EXPECT_EQ(detok.push(lead), "");              // may still complete
  EXPECT_EQ(detok.push(z), "\xEF\xBF\xBDz");    // it did not
  EXPECT_EQ(detok.push(lead), "");
  EXPECT_EQ(detok.flush(), "\xEF\xBF\xBD");
  EXPECT_EQ(detok.push(z), "z");
}

TEST(StreamingDetokenizer, SkipsSpecialTokensWhenAsked) {
  const Tokenizer& tok = neox();
  StreamingDetokenizer keep(tok), skip(tok, true);
  EXPECT_EQ(keep.push(0), "<|endoftext|>");
  EXPECT_EQ(skip.push(0), "");
  EXPECT_EQ(skip.push(5801), "hi");
}

TEST(TokenizerApi, VeryLongInputs) {
  const Tokenizer& tok = neox();
  const size_t n = 1 << 20;
  for (const std::string& s :
       {std::string(n, 'a'), std::string(n, ' '), std::string(n, '\n'), std::string(n, '!'),
        std::string(n, '7'), std::string(n / 2, 'x') + std::string(n / 2, ' ') + "y"}) {
    const auto ids = tok.encode(s);
    EXPECT_EQ(tok.decode(ids), s);
  }
  std::string emoji;
  for (int i = 0; i < 100000; ++i) emoji += "👨‍👩‍👧";
  EXPECT_EQ(tok.decode(tok.encode(emoji)), emoji);
}

TEST(TokenizerApi, RoundTripsShakespeare) {
  const Tokenizer& tok = neox();
  const std::string text = shakespeare();
  ASSERT_GT(text.size(), 1000000u);
  EXPECT_EQ(tok.decode(tok.encode(text)), text);
}

// Concurrent encodes (one with the word cache, the others without) agree with a serial run.
TEST(TokenizerApi, ConcurrentEncode) {
  const Tokenizer& tok = neox();
  const std::string text = shakespeare().substr(0, 200000);
  std::vector<std::string> chunks;
  for (size_t i = 0; i < text.size(); i += 5000) chunks.push_back(text.substr(i, 5000));
  std::vector<std::vector<int32_t>> serial;
  for (const auto& c : chunks) serial.push_back(tok.encode(c));
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int rep = 0; rep < 3; ++rep) {
        for (size_t i = 0; i < chunks.size(); ++i) {
          if (tok.encode(chunks[i]) != serial[i]) ++mismatches[t];
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(mismatches[t], 0) << "thread " << t;
}

}  // namespace
