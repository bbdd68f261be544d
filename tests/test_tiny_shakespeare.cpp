// The bundled model end to end against the reference (tests/fixtures/tiny_shakespeare, made by
// scripts/make_tiny_shakespeare_fixtures.py): tokenization, greedy continuations token for token,
// and validation perplexity.
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
    std::filesystem::path(XLSTM_SOURCE_DIR) / "models" / "tiny-shakespeare";
const std::filesystem::path kFixtures = testing::fixtures() / "tiny_shakespeare";

nlohmann::json read_json(const std::filesystem::path& p) {
  std::ifstream in(p);
  return nlohmann::json::parse(in);
}

TEST(TinyShakespeare, GreedyContinuationsEqualTheReference) {
  Model model = Model::load(kModel);
  const Tokenizer tok = Tokenizer::from_file(kModel / "tokenizer.json");
  const auto fixture = read_json(kFixtures / "greedy.json");
  ASSERT_EQ(fixture["cases"].size(), 3u);
  for (const auto& c : fixture["cases"]) {
    const auto prompt_ids = c["prompt_ids"].get<std::vector<int32_t>>();
    const auto expected = c["new_ids"].get<std::vector<int32_t>>();
    // Our tokenizer gives the reference's ids; BOS comes from the config (force_bos_token_insert).
    const auto encoded = tok.encode(c["prompt"].get<std::string>());
    const auto prepared = prepare_prompt(model.config(), encoded, true);
    EXPECT_EQ(prepared, prompt_ids) << c["prompt"];
    GenerateOptions o;
    o.max_new_tokens = 200;
    o.stop_at_eos = false;
    const auto r = generate(model, encoded, o);
    EXPECT_EQ(r.tokens, expected) << c["prompt"];
    EXPECT_EQ(tok.decode(r.tokens), c["continuation"].get<std::string>());
  }
}

TEST(TinyShakespeare, ValidationPerplexityEqualsTheReference) {
  const auto fixture = read_json(kFixtures / "perplexity.json");
  Model model = Model::load(kModel);
  const Tokenizer tok = Tokenizer::from_file(kModel / "tokenizer.json");
  std::ifstream in(kFixtures / "val.txt", std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  const auto tokens = tok.encode(text.str(), /*add_special_tokens=*/false);
  PerplexityOptions o;
  o.ctx = fixture["algorithm"]["ctx"].get<int64_t>();
  o.prepend_bos = true;
  o.batch = 8;
  const auto r = perplexity(model, tokens, o);
  EXPECT_EQ(r.windows, 170);
  EXPECT_EQ(r.scored_tokens, 21590);
  const double ref = fixture["mean_nll"].get<double>();
  EXPECT_NEAR(r.mean_nll, ref, 1e-3 * ref);
  EXPECT_NEAR(r.perplexity, fixture["perplexity"].get<double>(),
              1e-3 * fixture["perplexity"].get<double>());
}

}  // namespace
}  // namespace xlstm
