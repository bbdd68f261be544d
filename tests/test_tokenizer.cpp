// Parity with HF `tokenizers` on the fixtures of scripts/make_tokenizer_fixtures.py: identical ids
// for every input (with and without special tokens), identical decodings, and the streaming
// detokenizer agreeing with decode().
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "xlstm/tokenizer.h"

namespace {

using nlohmann::json;
using xlstm::StreamingDetokenizer;
using xlstm::Tokenizer;

std::string from_hex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

std::string printable(const std::string& s, size_t max = 80) {
  std::string out;
  for (const char c : s.substr(0, max)) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7F) {
      out.push_back(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", u);
      out += buf;
    }
  }
  return s.size() > max ? out + "..." : out;
}

std::string ids_str(const std::vector<int32_t>& ids) {
  std::string out;
  for (const int32_t id : ids) out += std::to_string(id) + " ";
  return out;
}

// Python's bytes.decode("utf-8", "replace"), which is what the reference was given.
std::string python_replace(const std::string& raw) {
  std::string out;
  size_t i = 0;
  const auto* p = reinterpret_cast<const unsigned char*>(raw.data());
  const size_t n = raw.size();
  while (i < n) {
    const unsigned char b = p[i];
    int len = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (b < 0x80)
      len = 1;
    else if (b >= 0xC2 && b <= 0xDF)
      len = 2;
    else if (b == 0xE0)
      len = 3, lo = 0xA0;
    else if (b == 0xED)
      len = 3, hi = 0x9F;
    else if (b >= 0xE1 && b <= 0xEF)
      len = 3;
    else if (b == 0xF0)
      len = 4, lo = 0x90;
    else if (b >= 0xF1 && b <= 0xF3)
      len = 4;
    else if (b == 0xF4)
      len = 4, hi = 0x8F;
    int k = 1;
    if (len > 1 && i + 1 < n && p[i + 1] >= lo && p[i + 1] <= hi) {
      k = 2;
      while (k < len && i + k < n && (p[i + k] & 0xC0) == 0x80) ++k;
    }
    if (len > 0 && k == len) {
      out.append(raw, i, len);
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      i += k;
    }
  }
  return out;
}

bool valid_utf8(const std::string& s) {
  return python_replace(s) == s;
}

const json& fixtures() {
  static const json j = [] {
    std::ifstream in(std::string(XLSTM_FIXTURES_DIR) + "/tokenizer/expected.json");
    std::stringstream ss;
    ss << in.rdbuf();
    return json::parse(ss.str());
  }();
  return j;
}

const std::vector<std::string>& inputs() {
  static const std::vector<std::string> v = [] {
    std::vector<std::string> out;
    for (const auto& h : fixtures()["inputs_hex"]) out.push_back(from_hex(h.get<std::string>()));
    return out;
  }();
  return v;
}

class Parity : public ::testing::TestWithParam<std::string> {
 protected:
  const json& expected() const { return fixtures()["tokenizers"][GetParam()]; }
  Tokenizer load() const {
    return Tokenizer::from_file(std::string(XLSTM_SOURCE_DIR) + "/" +
                                expected()["path"].get<std::string>());
  }
};

TEST_P(Parity, VocabSize) {
  EXPECT_EQ(load().vocab_size(), expected()["vocab_size"].get<int32_t>());
}

TEST_P(Parity, EncodeMatchesReference) {
  const Tokenizer tok = load();
  const json& cases = expected()["cases"];
  ASSERT_EQ(cases.size(), inputs().size());
  int failures = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto want = cases[i]["ids"].get<std::vector<int32_t>>();
    const auto want_plain = cases[i]["ids_no_special"].get<std::vector<int32_t>>();
    const auto got = tok.encode(inputs()[i]);
    const auto got_plain = tok.encode(inputs()[i], false);
    if ((got != want || got_plain != want_plain) && ++failures <= 5) {
      ADD_FAILURE() << "input #" << i << " \"" << printable(inputs()[i]) << "\"\n  want "
                    << ids_str(want) << "\n  got  " << ids_str(got) << "\n  plain want "
                    << ids_str(want_plain) << "\n  plain got  " << ids_str(got_plain);
    }
  }
  EXPECT_EQ(failures, 0) << "of " << cases.size() << " inputs";
}

TEST_P(Parity, DecodeMatchesReference) {
  const Tokenizer tok = load();
  const json& cases = expected()["cases"];
  int failures = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto ids = cases[i]["ids"].get<std::vector<int32_t>>();
    const std::string text = python_replace(inputs()[i]);
    const std::string want = cases[i].contains("decoded_hex")
                                 ? from_hex(cases[i]["decoded_hex"].get<std::string>())
                                 : text;
    const std::string want_skip = cases[i].contains("decoded_skip_hex")
                                      ? from_hex(cases[i]["decoded_skip_hex"].get<std::string>())
                                      : text;
    const std::string got = tok.decode(ids), got_skip = tok.decode(ids, true);
    if ((got != want || got_skip != want_skip) && ++failures <= 5) {
      ADD_FAILURE() << "input #" << i << "\n  want \"" << printable(want) << "\"\n  got  \""
                    << printable(got) << "\"\n  skip want \"" << printable(want_skip)
                    << "\"\n  skip got  \"" << printable(got_skip) << "\"";
    }
  }
  EXPECT_EQ(failures, 0);
}

TEST_P(Parity, DecodeRandomIds) {
  const Tokenizer tok = load();
  for (const json& c : expected()["decodes"]) {
    const auto ids = c["ids"].get<std::vector<int32_t>>();
    EXPECT_EQ(tok.decode(ids), from_hex(c["text_hex"].get<std::string>())) << ids_str(ids);
    EXPECT_EQ(tok.decode(ids, true), from_hex(c["text_skip_hex"].get<std::string>()))
        << ids_str(ids);
  }
}

// Streaming output is valid UTF-8 after every token and adds up to decode().
TEST_P(Parity, StreamingMatchesDecode) {
  const Tokenizer tok = load();
  std::vector<std::vector<int32_t>> seqs;
  for (const json& c : expected()["cases"]) seqs.push_back(c["ids"].get<std::vector<int32_t>>());
  for (const json& c : expected()["decodes"]) seqs.push_back(c["ids"].get<std::vector<int32_t>>());
  for (const bool skip : {false, true}) {
    StreamingDetokenizer detok(tok, skip);
    for (const auto& ids : seqs) {
      std::string text;
      for (const int32_t id : ids) {
        const std::string piece = detok.push(id);
        ASSERT_TRUE(valid_utf8(piece)) << printable(piece);
        text += piece;
      }
      text += detok.flush();
      ASSERT_EQ(text, tok.decode(ids, skip)) << ids_str(ids);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Tokenizers, Parity,
                         ::testing::Values("gpt-neox-20b", "tiny_prefix", "tiny_split",
                                           "tiny_behaviors"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& c : name) {
                             if (c == '-') c = '_';
                           }
                           return name;
                         });

}  // namespace
