// Config parsing: both formats, aliases, derived dims (FFN rounding rule), errors naming the key.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "test_util.h"
#include "xlstm/config.h"
#include "xlstm/error.h"

namespace xlstm {
namespace {

std::string error_of(const std::string& json) {
  try {
    parse_config(json, "config.json");
  } catch (const InvalidInput& e) {
    return e.what();
  }
  return "";
}

TEST(Config, Xlstm7bHasTheExactShapesAndParameterCount) {
  const auto loaded = load_config(testing::fixtures() / "configs" / "xlstm-7b.json");
  const ModelConfig& c = loaded.config;
  EXPECT_EQ(c.embedding_dim, 4096);
  EXPECT_EQ(c.num_heads, 8);
  EXPECT_EQ(c.num_blocks, 32);
  EXPECT_EQ(c.vocab_size, 50304);
  EXPECT_EQ(c.qk_dim(), 2048);
  EXPECT_EQ(c.qk_head_dim(), 256);
  EXPECT_EQ(c.v_dim(), 4096);
  EXPECT_EQ(c.v_head_dim(), 512);
  EXPECT_EQ(c.ffn_dim(), 10944);
  EXPECT_EQ(c.parameter_count(), 6865424896);
  EXPECT_EQ(c.state_floats_per_sequence() * 4, 134480896);  // 4.2 MB per block
  EXPECT_TRUE(c.force_bos_token_insert);
  EXPECT_EQ(c.gate_soft_cap, 15.0);
  EXPECT_EQ(c.output_logit_soft_cap, 30.0);
  EXPECT_TRUE(loaded.warnings.empty()) << loaded.warnings.front();
}

// `info` prints one letter per block; past 64 blocks, runs of a type are counted.
TEST(Config, DescribeCountsRunsOfLongLayouts) {
  auto c = load_config(testing::fixtures() / "configs" / "xlstm-7b.json").config;
  EXPECT_NE(describe(c).find("layout                       L L L"), std::string::npos);
  c.num_blocks = 1000;
  EXPECT_NE(describe(c).find("layout                       L\u00d71000\n"), std::string::npos)
      << describe(c);
}

TEST(Config, FfnWidthUsesFloorDivisionRounding) {
  // Spec §1.2: int(((x + 63) // 64) * 64) on a float: x in (64n, 64n+1) rounds down.
  const std::pair<int64_t, int64_t> cases[] = {
      {4096, 10944}, {768, 2048}, {512, 1408}, {1024, 2752}, {2048, 5504}};
  for (auto [E, F] : cases) {
    auto c = parse_config(R"({"embedding_dim": )" + std::to_string(E) +
                              R"(, "num_heads": 4, "num_blocks": 1, "vocab_size": 10})",
                          "t")
                 .config;
    EXPECT_EQ(c.ffn_dim(), F) << "E=" << E;
  }
}

TEST(Config, HfAliasesAreAcceptedAndEmbeddingDimWins) {
  auto c = parse_config(
      R"({"hidden_size": 128, "num_hidden_layers": 3, "num_heads": 2, "vocab_size": 50})", "t");
  EXPECT_EQ(c.config.embedding_dim, 128);
  EXPECT_EQ(c.config.num_blocks, 3);
  auto both = parse_config(
      R"({"hidden_size": 4096, "embedding_dim": 64, "num_blocks": 2, "num_hidden_layers": 32, "num_heads": 2, "vocab_size": 50})",
      "t");
  EXPECT_EQ(both.config.embedding_dim, 64);
  EXPECT_EQ(both.config.num_blocks, 2);
  EXPECT_EQ(both.warnings.size(), 2u);
}

TEST(Config, UnknownKeysWarnOnceEach) {
  auto c = parse_config(
      R"({"embedding_dim": 64, "num_heads": 2, "num_blocks": 1, "vocab_size": 50, "mystery": 1, "other": 2})",
      "t");
  ASSERT_EQ(c.warnings.size(), 2u);
  EXPECT_NE(c.warnings[0].find("mystery"), std::string::npos);
  auto typo = parse_config(
      R"({"embedding_dim": 64, "num_heads": 2, "num_blocks": 1, "vocab_size": 50, "norm_esp": 1e-5})",
      "t");
  ASSERT_EQ(typo.warnings.size(), 1u);
  // A config of junk: 32 lines, then a count.
  nlohmann::json junk = {
      {"embedding_dim", 64}, {"num_heads", 2}, {"num_blocks", 1}, {"vocab_size", 50}};
  for (int i = 0; i < 40; ++i) junk["junk" + std::to_string(i)] = i;
  const auto many = parse_config(junk.dump(), "t");
  ASSERT_EQ(many.warnings.size(), 33u);
  EXPECT_EQ(many.warnings.back(), "t: 8 more unknown keys ignored");
  EXPECT_NE(typo.warnings[0].find("unknown key 'norm_esp' ignored (did you mean 'norm_eps'?)"),
            std::string::npos)
      << typo.warnings[0];
}

TEST(Config, MissingRequiredKeyIsNamed) {
  EXPECT_NE(
      error_of(R"({"embedding_dim": 64, "num_heads": 2, "num_blocks": 1})").find("'vocab_size'"),
      std::string::npos);
  EXPECT_NE(error_of(R"({"num_heads": 2, "num_blocks": 1, "vocab_size": 5})")
                .find("'embedding_dim' or 'hidden_size'"),
            std::string::npos);
}

TEST(Config, WrongTypeIsNamed) {
  const auto e =
      error_of(R"({"embedding_dim": "64", "num_heads": 2, "num_blocks": 1, "vocab_size": 5})");
  EXPECT_NE(e.find("'embedding_dim' must be an integer"), std::string::npos) << e;
  const auto b = error_of(
      R"({"embedding_dim": 64, "num_heads": 2, "num_blocks": 1, "vocab_size": 5, "use_bias": 1})");
  EXPECT_NE(b.find("'use_bias' must be a boolean"), std::string::npos) << b;
}

TEST(Config, DimsThatDoNotDivideByHeadsAreNamed) {
  const auto e =
      error_of(R"({"embedding_dim": 64, "num_heads": 3, "num_blocks": 1, "vocab_size": 5})");
  EXPECT_NE(e.find("'qk_dim_factor'"), std::string::npos) << e;
  EXPECT_NE(e.find("num_heads = 3"), std::string::npos) << e;
}

// A factor small enough that the reference's rounding gives an empty FFN (found by fuzz_config:
// embedding_dim 64, ffn_proj_factor 1e-5 loaded with ffn_dim 0).
TEST(Config, AnEmptyFfnIsNamed) {
  const auto e = error_of(
      R"({"embedding_dim": 64, "num_heads": 2, "num_blocks": 1, "vocab_size": 5,
          "ffn_proj_factor": 1e-5})");
  EXPECT_NE(e.find("'ffn_proj_factor' gives ffn_dim 0"), std::string::npos) << e;
}

TEST(Config, BadValuesAreNamed) {
  EXPECT_NE(
      error_of(
          R"({"embedding_dim": 64, "num_heads": 2, "num_blocks": 1, "vocab_size": 5, "weight_mode": "x"})")
          .find("'weight_mode'"),
      std::string::npos);
  EXPECT_NE(error_of(R"({"embedding_dim": -4, "num_heads": 2, "num_blocks": 1, "vocab_size": 5})")
                .find("'embedding_dim'"),
            std::string::npos);
  // Integers that do not fit int64: the float 1e25 (and a longer integer literal, which JSON
  // parsing turns into one) was cast to int64, which is undefined (UBSan; found by fuzz_config).
  for (const char* big : {"1e25", "6518446744073709551615536", "18446744073709551615", "-1e19"}) {
    const auto e = error_of(
        std::string(R"({"embedding_dim": 64, "num_heads": 2, "vocab_size": 5, "num_blocks": )") +
        big + "}");
    EXPECT_NE(e.find("'num_blocks' is out of range: "), std::string::npos) << e;
  }
  EXPECT_EQ(parse_config(R"({"embedding_dim": 64.0, "num_heads": 2, "num_blocks": 1e1,
                             "vocab_size": 5})",
                         "config.json")
                .config.num_blocks,
            10);
  EXPECT_NE(error_of("{not json").find("invalid JSON"), std::string::npos);
  EXPECT_NE(error_of("[1, 2]").find("JSON object"), std::string::npos);
}

// Each size within its own bound, but 2^16 blocks of 2^47 state floats each overflowed int64 in
// state_floats_per_sequence() (found by fuzz/fuzz_config's derived-size checks).
TEST(Config, StacksOverTwoToThe48StateFloatsAreRefused) {
  const std::string big = R"({"embedding_dim": 262144, "num_heads": 1, "vocab_size": 16,
      "qk_dim_factor": 32, "v_dim_factor": 64, "num_blocks": )";
  const auto e = error_of(big + "65536}");
  EXPECT_NE(e.find("config.json: 'num_blocks' = 65536 blocks of these sizes hold more than 2^48"),
            std::string::npos)
      << e;
  EXPECT_EQ(error_of(big + "1}"), "");
  EXPECT_EQ(parse_config(big + "1}", "config.json").config.state_floats_per_sequence(),
            (int64_t{1} << 47) + (int64_t{1} << 23) + 1);
}

TEST(Config, MissingFileIsNamed) {
  try {
    load_config("/nonexistent/config.json");
    FAIL();
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/config.json"), std::string::npos);
  }
}

}  // namespace
}  // namespace xlstm
