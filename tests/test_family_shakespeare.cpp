// The bundled original-family model (models/family-shakespeare: m s m s, trained with the official
// package by scripts/train_family_shakespeare.py): its validation perplexity equals the official
// package's on the same text (recorded in its training_log.json) within 0.1%, and it generates.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "test_util.h"
#include "xlstm/generator.h"
#include "xlstm/perplexity.h"
#include "xlstm/tokenizer.h"

namespace xlstm {
namespace {

const std::filesystem::path kModel =
    std::filesystem::path(XLSTM_SOURCE_DIR) / "models" / "family-shakespeare";

TEST(FamilyShakespeare, ValidationPerplexityEqualsTheOfficialPackage) {
  std::ifstream log_in(kModel / "training_log.json");
  const auto official = nlohmann::json::parse(log_in)["final"]["perplexity"];
  Model model = Model::load(kModel);
  EXPECT_EQ(model.config().layout(), "m s m s");
  const Tokenizer tok = Tokenizer::from_file(kModel / "tokenizer.json");
  std::ifstream in(testing::fixtures() / "tiny_shakespeare" / "val.txt", std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  const auto tokens = tok.encode(text.str(), /*add_special_tokens=*/false);
  ASSERT_EQ(static_cast<int64_t>(tokens.size()), official["tokens"].get<int64_t>());
  PerplexityOptions o;
  o.ctx = official["ctx"].get<int64_t>();
  o.prepend_bos = false;  // trained and evaluated without BOS
  o.batch = 8;
  const auto r = perplexity(model, tokens, o);
  EXPECT_EQ(r.scored_tokens, official["scored_tokens"].get<int64_t>());
  const double ppl = official["perplexity"].get<double>();
  EXPECT_NEAR(r.perplexity, ppl, 1e-3 * ppl);  // measured: equal to 6 digits
}

TEST(FamilyShakespeare, GeneratesText) {
  Model model = Model::load(kModel);
  const Tokenizer tok = Tokenizer::from_file(kModel / "tokenizer.json");
  GenerateOptions o;
  o.max_new_tokens = 40;
  const auto r = generate(model, tok.encode("ROMEO:", false), o);
  EXPECT_EQ(r.tokens.size(), 40u);
  EXPECT_FALSE(tok.decode(r.tokens).empty());
}

}  // namespace
}  // namespace xlstm
