// A malformed or unsupported tokenizer.json fails at load with an xlstm::InvalidInput that names
// the file and the field or component; it never crashes.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "xlstm/error.h"
#include "xlstm/tokenizer.h"

namespace {

using nlohmann::json;
using xlstm::Tokenizer;

// GPT-2's byte -> character map, for writing byte-level token strings.
std::string byte_char(int b) {
  int n = 0;
  for (int x = 0; x < 256; ++x) {
    const bool printable = (x >= 0x21 && x <= 0x7E) || (x >= 0xA1 && x <= 0xAC) || x >= 0xAE;
    const int cp = printable ? x : 256 + n++;
    if (x == b) {
      std::string s;
      if (cp < 0x80) {
        s.push_back(static_cast<char>(cp));
      } else {
        s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
      }
      return s;
    }
  }
  return "";
}

// A small valid byte-level BPE file: 256 byte tokens, "Ġt", "he", "Ġthe", one special token.
json minimal() {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_char(b)] = b;
  vocab["Ġt"] = 256;
  vocab["he"] = 257;
  vocab["Ġthe"] = 258;
  vocab["<|endoftext|>"] = 259;
  return {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", json::array({{{"id", 259},
                                     {"content", "<|endoftext|>"},
                                     {"single_word", false},
                                     {"lstrip", false},
                                     {"rstrip", false},
                                     {"normalized", false},
                                     {"special", true}}})},
      {"normalizer", {{"type", "NFC"}}},
      {"pre_tokenizer",
       {{"type", "ByteLevel"},
        {"add_prefix_space", false},
        {"trim_offsets", true},
        {"use_regex", true}}},
      {"post_processor", nullptr},
      {"decoder", {{"type", "ByteLevel"}}},
      {"model",
       {{"type", "BPE"},
        {"dropout", nullptr},
        {"unk_token", nullptr},
        {"vocab", vocab},
        {"merges", json::array({"Ġ t", json::array({"h", "e"}), "Ġt he"})}}},
  };
}

// Loads `text` and returns the error message ("" if it loaded).
std::string load_error(const std::string& text) {
  try {
    Tokenizer::from_json(text, "bad.json");
  } catch (const xlstm::InvalidInput& e) {
    return e.what();
  }
  return "";
}

void expect_error(const json& j, const std::string& needle) {
  const std::string msg = load_error(j.dump());
  EXPECT_EQ(msg.rfind("[tokenizer] bad.json: ", 0), 0u) << msg;
  EXPECT_NE(msg.find(needle), std::string::npos) << "message: " << msg << "\nwanted: " << needle;
}

TEST(TokenizerLoad, MinimalFileWorks) {
  const Tokenizer tok = Tokenizer::from_json(minimal().dump());
  EXPECT_EQ(tok.encode(" the<|endoftext|>"), (std::vector<int32_t>{258, 259}));
  EXPECT_EQ(tok.decode(std::vector<int32_t>{258, 259}), " the<|endoftext|>");
  EXPECT_EQ(tok.vocab_size(), 260);
}

TEST(TokenizerLoad, MalformedJson) {
  const std::string msg = load_error("{\"model\": {\"vocab\": ");
  EXPECT_EQ(msg.rfind("[tokenizer] bad.json: malformed JSON", 0), 0u) << msg;
  EXPECT_NE(load_error("[1, 2]").find("expected a JSON object"), std::string::npos);
  EXPECT_NE(load_error("").find("malformed JSON"), std::string::npos);
}

TEST(TokenizerLoad, MissingFile) {
  try {
    Tokenizer::from_file("/nonexistent/tokenizer.json");
    FAIL() << "loaded a missing file";
  } catch (const xlstm::InvalidInput& e) {
    EXPECT_STREQ(e.what(), "[tokenizer] /nonexistent/tokenizer.json: does not exist");
  }
}

TEST(TokenizerLoad, UnsupportedComponentsAreNamed) {
  json j = minimal();
  j["model"]["type"] = "WordPiece";
  expect_error(j, "model type \"WordPiece\" is not supported");

  j = minimal();
  j["normalizer"] = {{"type", "Lowercase"}};
  expect_error(j, "normalizer: type \"Lowercase\" is not supported");

  j = minimal();
  j["normalizer"] = {{"type", "Sequence"},
                     {"normalizers", json::array({{{"type", "NFC"}}, {{"type", "NFKC"}}})}};
  expect_error(j, "normalizer.normalizers[1]: type \"NFKC\" is not supported");

  j = minimal();
  j["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", "▁"}};
  expect_error(j, "pre_tokenizer: type \"Metaspace\" is not supported");

  j = minimal();
  j["pre_tokenizer"] = {
      {"type", "Sequence"},
      {"pretokenizers", json::array({minimal()["pre_tokenizer"], {{"type", "Digits"}}})}};
  expect_error(j, "pre_tokenizer.pretokenizers[1]: a \"Digits\" step after ByteLevel");

  j = minimal();
  j["pre_tokenizer"] = {{"type", "Split"},
                        {"pattern", {{"String", " "}}},
                        {"behavior", "Isolated"},
                        {"invert", false}};
  expect_error(j, "pre_tokenizer: no ByteLevel step");

  j = minimal();
  j["pre_tokenizer"] = nullptr;
  expect_error(j, "pre_tokenizer: null is not supported");

  j = minimal();
  j["decoder"] = {{"type", "WordPiece"}};
  expect_error(j, "decoder: type \"WordPiece\" is not supported");

  j = minimal();
  j["decoder"] = nullptr;
  expect_error(j, "decoder: null is not supported");

  j = minimal();
  j["post_processor"] = {{"type", "RobertaProcessing"}};
  expect_error(j, "post_processor: type \"RobertaProcessing\" is not supported");

  j = minimal();
  j["truncation"] = {{"max_length", 512}};
  expect_error(j, "truncation is not supported");

  j = minimal();
  j["model"]["dropout"] = 0.1;
  expect_error(j, "model.dropout (BPE dropout) is not supported");

  j = minimal();
  j["model"]["byte_fallback"] = true;
  expect_error(j, "model.byte_fallback is not supported");

  j = minimal();
  j["model"]["continuing_subword_prefix"] = "##";
  expect_error(j, "model.continuing_subword_prefix is not supported");
}

TEST(TokenizerLoad, BadSplit) {
  json j = minimal();
  j["pre_tokenizer"] = {
      {"type", "Sequence"},
      {"pretokenizers",
       json::array({{{"type", "Split"}, {"pattern", {{"Regex", "(a"}}}, {"behavior", "Isolated"}},
                    minimal()["pre_tokenizer"]})}};
  expect_error(j, "pre_tokenizer Split #1: bad regex");

  j["pre_tokenizer"]["pretokenizers"][0]["pattern"] = {{"Regex", "a"}};
  j["pre_tokenizer"]["pretokenizers"][0]["behavior"] = "Sideways";
  expect_error(j, "pre_tokenizer.pretokenizers[0].behavior: unknown value \"Sideways\"");

  j["pre_tokenizer"]["pretokenizers"][0]["behavior"] = "Isolated";
  j["pre_tokenizer"]["pretokenizers"][0]["pattern"] = {{"Glob", "*"}};
  expect_error(j, "pre_tokenizer.pretokenizers[0].pattern: expected {\"String\"");
}

TEST(TokenizerLoad, BadMerges) {
  json j = minimal();
  j["model"]["merges"].push_back("Ġ zz");
  expect_error(j, "model.merges[3]: token \"zz\" is not in model.vocab");

  j = minimal();
  j["model"]["merges"].push_back("t h");
  expect_error(j, "model.merges[3]: token \"th\" (the merged pair) is not in model.vocab");

  j = minimal();
  j["model"]["merges"].push_back("a b c");
  expect_error(j, "model.merges[3]: expected \"a b\"");

  j = minimal();
  j["model"]["merges"].push_back(json::array({"a"}));
  expect_error(j, "model.merges[3]: expected \"a b\" or [\"a\", \"b\"]");

  j = minimal();
  j["model"]["merges"] = "Ġ t";
  expect_error(j, "model.merges: expected an array");
}

TEST(TokenizerLoad, BadVocab) {
  json j = minimal();
  j["model"]["vocab"]["x1"] = -3;
  expect_error(j, "model.vocab[\"x1\"]: token id -3 out of range");

  j = minimal();
  j["model"]["vocab"]["x1"] = "7";
  expect_error(j, "model.vocab[\"x1\"]: expected a token id");

  j = minimal();
  j["model"]["vocab"]["x1"] = 1LL << 40;
  expect_error(j, "out of range");

  j = minimal();
  j["model"]["vocab"]["x1"] = 5;
  expect_error(j, "model.vocab: id 5 is used by both");

  j = minimal();
  j["model"]["unk_token"] = "<unk>";
  expect_error(j, "model.unk_token \"<unk>\" is not in model.vocab");

  j = minimal();
  j["model"].erase("vocab");
  expect_error(j, "model: missing \"vocab\"");
}

TEST(TokenizerLoad, BadAddedTokens) {
  json j = minimal();
  j["added_tokens"][0]["lstrip"] = "yes";
  expect_error(j, "added_tokens[0].lstrip: expected true or false");

  j = minimal();
  j["added_tokens"][0].erase("content");
  expect_error(j, "added_tokens[0]: missing \"content\"");

  j = minimal();
  j["added_tokens"][0]["id"] = 1.5;
  expect_error(j, "added_tokens[0].id: expected a token id");

  j = minimal();
  j["added_tokens"] = {{"a", 1}};
  expect_error(j, "added_tokens: expected an array");
}

// One id, two spellings: both encoded to it and it decoded to the last, so decode(encode(x)) gave
// other text; one spelling at two ids likewise (found by fuzz_tokenizer_json's
// token_id(id_to_token(id)) property).
TEST(TokenizerLoad, AddedTokenIdsNameOneToken) {
  json j = minimal();
  json extra = j["added_tokens"][0];
  extra["content"] = "<|pad|>";
  extra["id"] = 259;  // <|endoftext|>'s
  j["added_tokens"].push_back(extra);
  expect_error(j, "added_tokens: id 259 is used by both \"<|endoftext|>\" and \"<|pad|>\"");

  j = minimal();
  extra["id"] = 258;  // a model vocab id ("Ġthe")
  j["added_tokens"].push_back(extra);
  expect_error(j, "added_tokens: id 258 is used by both \"Ġthe\" and \"<|pad|>\"");

  j = minimal();
  extra["id"] = 260;
  j["added_tokens"].push_back(extra);
  extra["id"] = 261;
  j["added_tokens"].push_back(extra);
  expect_error(j, "added_tokens: \"<|pad|>\" has two ids, 260 and 261");

  // The same token listed twice, or an added token that repeats a vocab entry, still loads.
  j = minimal();
  j["added_tokens"].push_back(j["added_tokens"][0]);
  extra["content"] = "he";
  extra["id"] = 999;  // the model's id (257) wins, as in HF
  j["added_tokens"].push_back(extra);
  const Tokenizer tok = Tokenizer::from_json(j.dump());
  EXPECT_EQ(tok.token_id("he"), 257);
  EXPECT_EQ(tok.decode(tok.encode(" the<|endoftext|>")), " the<|endoftext|>");
}

TEST(TokenizerLoad, BadTemplate) {
  const json single = json::array({{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
                                   {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}});
  json j = minimal();
  j["post_processor"] = {{"type", "TemplateProcessing"}, {"single", single}, {"pair", single}};
  j["post_processor"]["special_tokens"] = json::object();
  expect_error(j,
               "post_processor.single[0]: special token \"<s>\" is not in "
               "post_processor.special_tokens");

  j["post_processor"]["special_tokens"]["<s>"] = {
      {"id", "<s>"}, {"ids", json::array({7777})}, {"tokens", json::array({"<s>"})}};
  expect_error(j, "post_processor: special token id 7777 is not in the vocabulary");

  j["post_processor"]["special_tokens"]["<s>"]["ids"] = json::array({259});
  j["post_processor"]["single"][1]["Sequence"]["id"] = "B";
  expect_error(j, "post_processor.single[1]: sequence \"B\" in a single-sequence template");

  j["post_processor"]["single"] = json::array({single[0]});
  expect_error(j, "post_processor.single: has no sequence A");

  j["post_processor"]["single"] = single;
  EXPECT_EQ(Tokenizer::from_json(j.dump()).encode(" the"), (std::vector<int32_t>{259, 258}));
}

// Random corruptions of a valid file load or fail with InvalidInput; nothing else escapes.
TEST(TokenizerLoad, CorruptedFilesNeverCrash) {
  const std::string good = minimal().dump();
  constexpr std::string_view kJunk = "{}[]\",:0-9ae \\";
  std::mt19937 rng(5);
  int loaded = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string s = good;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const size_t at = rng() % s.size();
      switch (rng() % 3) {
        case 0:
          s[at] = static_cast<char>(rng() % 256);
          break;
        case 1:
          s.erase(at, 1 + rng() % 8);
          break;
        default:
          s.insert(at, 1, kJunk[rng() % kJunk.size()]);
      }
    }
    try {
      Tokenizer::from_json(s, "bad.json").encode("the theme");
      ++loaded;
    } catch (const xlstm::InvalidInput& e) {
      EXPECT_EQ(std::string(e.what()).rfind("[tokenizer] bad.json: ", 0), 0u) << e.what();
    }
  }
  EXPECT_GT(loaded, 0);
}

}  // namespace
