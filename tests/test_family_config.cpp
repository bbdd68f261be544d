// The original family's config: the official xLSTMLMModelConfig JSON, the layout forms (slstm_at,
// block_types, block_signature) and every bad-input case with an error naming the field, tensor
// or block.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "test_util.h"
#include "xlstm/config.h"
#include "xlstm/error.h"
#include "xlstm/model.h"

namespace xlstm {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

json fixture_config(const std::string& name) {
  std::ifstream in(testing::fixtures() / "family" / name / "config.json");
  return json::parse(in);
}

std::string error_of(const json& j) {
  try {
    parse_config(j.dump(), "config.json");
  } catch (const InvalidInput& e) {
    return e.what();
  }
  return "";
}

TEST(FamilyConfig, OfficialConfigsGiveTheirLayouts) {
  EXPECT_EQ(parse_config(fixture_config("m7s1").dump(), "c").config.layout(), "m m m m m m m s");
  EXPECT_EQ(parse_config(fixture_config("m1s1").dump(), "c").config.layout(), "m s");
  EXPECT_EQ(parse_config(fixture_config("s_only").dump(), "c").config.layout(), "s s");
  EXPECT_EQ(parse_config(fixture_config("m_only").dump(), "c").config.layout(), "m m");
  const auto loaded = parse_config(fixture_config("m7s1").dump(), "c");
  EXPECT_TRUE(loaded.warnings.empty()) << loaded.warnings.front();
  EXPECT_EQ(loaded.config.family, Family::V1);
}

TEST(FamilyConfig, SignatureAndExplicitListAgreeWithSlstmAt) {
  json j = fixture_config("m7s1");
  j["block_signature"] = "7:1";
  j["block_types"] = {"mlstm", "mlstm", "mlstm", "mlstm", "mlstm", "mlstm", "mlstm", "slstm"};
  EXPECT_EQ(parse_config(j.dump(), "c").config.layout(), "m m m m m m m s");
  j.erase("slstm_at");
  j.erase("_block_map");
  j.erase("block_types");
  j["num_blocks"] = 16;
  EXPECT_EQ(parse_config(j.dump(), "c").config.layout(), "m m m m m m m s m m m m m m m s");
  j["block_signature"] = "1:1";
  j["num_blocks"] = 4;
  EXPECT_EQ(parse_config(j.dump(), "c").config.layout(), "m s m s");
}

TEST(FamilyConfig, BadLayoutsNameTheField) {
  json j = fixture_config("m7s1");
  j.erase("_block_map");
  auto with = [&](const char* key, const json& v) {
    json k = j;
    k[key] = v;
    return error_of(k);
  };
  EXPECT_NE(with("slstm_at", {8}).find("'slstm_at' index 8 is outside [0, num_blocks = 8)"),
            std::string::npos);
  EXPECT_NE(with("slstm_at", {3, 3}).find("index 3 appears twice"), std::string::npos);
  EXPECT_NE(with("slstm_at", "some").find("'slstm_at'"), std::string::npos);
  EXPECT_NE(with("block_signature", "7:2").find("multiple of 9"), std::string::npos);
  EXPECT_NE(with("block_signature", "seven").find("'block_signature'"), std::string::npos);
  EXPECT_NE(with("block_signature", "1:1")
                .find("'slstm_at' gives the layout 'm m m m m m m s', but block_signature gives "
                      "'m s m s m s m s'"),
            std::string::npos);
  const std::string unknown = with("block_types", {"mlstm", "mamba", "m", "m", "m", "m", "m", "s"});
  EXPECT_NE(unknown.find("unknown block type 'mamba'; known: mlstm_large, mlstm_v1, slstm"),
            std::string::npos)
      << unknown;
  EXPECT_NE(with("block_types", {"m", "s"}).find("has 2 entries for num_blocks = 8"),
            std::string::npos);
  json no_at = j;
  no_at.erase("slstm_at");
  no_at["block_types"] = {"m", "m", "m", "m", "m", "m", "m", "mlstm_large"};
  EXPECT_NE(error_of(no_at).find("block 7 is 'mlstm_large', which this family cannot hold"),
            std::string::npos);
  json k = fixture_config("m7s1");
  k["_block_map"] = "0,0,0,0,0,0,0,0";
  EXPECT_NE(error_of(k).find("'_block_map'"), std::string::npos);
  k = fixture_config("m7s1");
  k["slstm_block"] = nullptr;
  EXPECT_NE(error_of(k).find("block 7 is 'slstm' but 'slstm_block' is missing"), std::string::npos);
  k = fixture_config("m1s1");
  k["mlstm_block"] = nullptr;
  k["slstm_at"] = {1};
  k.erase("_block_map");
  EXPECT_NE(error_of(k).find("mlstm_block is null"), std::string::npos);
}

TEST(FamilyConfig, BadBlockFieldsNameTheirSection) {
  json j = fixture_config("m1s1");
  json k = j;
  k["mlstm_block"]["mlstm"]["num_heads"] = 3;
  EXPECT_NE(error_of(k).find("mlstm_block.mlstm: 'num_heads' = 3 must be positive and divide"),
            std::string::npos)
      << error_of(k);
  k = j;
  k["slstm_block"]["slstm"]["num_heads"] = 5;
  EXPECT_NE(error_of(k).find("slstm_block.slstm: 'num_heads' = 5"), std::string::npos);
  k = j;
  k["slstm_block"]["slstm"]["backend"] = "triton";
  EXPECT_NE(error_of(k).find("'backend' = \"triton\""), std::string::npos);
  k = j;
  k["slstm_block"]["slstm"]["function"] = "lstm";
  EXPECT_NE(error_of(k).find("'function' = \"lstm\""), std::string::npos);
  k = j;
  k["slstm_block"]["feedforward"]["act_fn"] = "tanhh";
  EXPECT_NE(error_of(k).find("slstm_block.feedforward: 'act_fn'"), std::string::npos);
  k = j;
  k["mlstm_block"]["mlstm"]["proj_factor"] = "two";
  EXPECT_NE(error_of(k).find("'proj_factor' must be a number"), std::string::npos);
  k = j;
  k["vocab_size"] = -1;
  EXPECT_NE(error_of(k).find("'vocab_size' = -1 must be a positive integer"), std::string::npos);
  k = j;
  k["mlstm_block"] = 5;
  EXPECT_NE(error_of(k).find("mlstm_block: must be a JSON object"), std::string::npos);
}

// A misspelt field would quietly take its default: every section warns of keys the official
// config does not have, suggesting the near one; and where the default then breaks the config,
// the error says which key was misspelt.
TEST(FamilyConfig, UnknownKeysWarnInEverySectionWithTheNearKnownOne) {
  for (const char* name : {"m7s1", "m1s1", "s_only", "m_only"}) {
    const auto loaded = parse_config(fixture_config(name).dump(), "c");
    EXPECT_TRUE(loaded.warnings.empty()) << name << ": " << loaded.warnings.front();
  }
  json j = fixture_config("m1s1");
  j["mlstm_block"]["mlstm"]["conv1d_kernel_sise"] = j["mlstm_block"]["mlstm"]["conv1d_kernel_size"];
  j["mlstm_block"]["mlstm"].erase("conv1d_kernel_size");
  j["slstm_block"]["slstm"]["mystery"] = 1;
  j["slstm_block"]["feedforward"]["act_fun"] = "gelu";
  j["slstm_block"]["extra"] = 2;
  const auto loaded = parse_config(j.dump(), "c");
  ASSERT_EQ(loaded.warnings.size(), 4u);
  const std::string all = loaded.warnings[0] + "\n" + loaded.warnings[1] + "\n" +
                          loaded.warnings[2] + "\n" + loaded.warnings[3];
  for (const char* line :
       {"c: mlstm_block.mlstm: unknown key 'conv1d_kernel_sise' ignored (did you mean "
        "'conv1d_kernel_size'?)",
        "c: slstm_block.slstm: unknown key 'mystery' ignored\n",
        "c: slstm_block.feedforward: unknown key 'act_fun' ignored (did you mean 'act_fn'?)",
        "c: slstm_block: unknown key 'extra' ignored"})
    EXPECT_NE((all + "\n").find(line), std::string::npos) << line << " in\n" << all;

  json k = fixture_config("m7s1");
  k["num_block"] = k["num_blocks"];
  k.erase("num_blocks");
  const std::string e = error_of(k);
  EXPECT_NE(e.find("'slstm_at' index 7 is outside [0, num_blocks = 1)"), std::string::npos) << e;
  EXPECT_NE(e.find("unknown key 'num_block' ignored (did you mean 'num_blocks'?)"),
            std::string::npos)
      << e;
}

// Each size within its own bound, but 2^16 such blocks held more than 2^64 parameters: the sum
// overflowed int64 in parameter_count() (UBSan; found by fuzz/fuzz_family_config's derived-size
// checks).
TEST(FamilyConfig, StacksOverTwoToThe48ParametersAreRefused) {
  json j = {
      {"vocab_size", 16},
      {"embedding_dim", 262144},
      {"num_blocks", 65536},
      {"mlstm_block",
       {{"mlstm", {{"num_heads", 1}, {"proj_factor", 64}, {"qkv_proj_blocksize", 16777216}}}}}};
  EXPECT_NE(error_of(j).find("config.json: 'num_blocks' = 65536 blocks of these sizes hold more "
                             "than 2^48 parameters"),
            std::string::npos)
      << error_of(j);
  // Two blocks of 2^43 parameters and 2^46 state floats each load.
  j["num_blocks"] = 2;
  j["mlstm_block"]["mlstm"]["num_heads"] = 4;
  j["mlstm_block"]["mlstm"]["qkv_proj_blocksize"] = 4;
  EXPECT_EQ(error_of(j), "");
}

// A model directory with the given config and s_only's weights.
fs::path with_config(const json& config, const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("xlstm_family_" + name);
  fs::create_directories(dir);
  std::ofstream(dir / "config.json") << config.dump();
  fs::copy_file(testing::fixtures() / "family" / "s_only" / "model.safetensors",
                dir / "model.safetensors", fs::copy_options::overwrite_existing);
  return dir;
}

std::string load_error(const fs::path& dir) {
  try {
    Model::load(dir);
  } catch (const InvalidInput& e) {
    return e.what();
  }
  return "";
}

TEST(FamilyWeights, ARecurrentKernelOfTheOtherLayoutIsNamed) {
  json j = fixture_config("s_only");
  j["slstm_block"]["slstm"]["backend"] = "cuda";  // the file holds the vanilla layout
  const fs::path dir = with_config(j, "wrong_backend");
  const std::string e = load_error(dir);
  fs::remove_all(dir);
  EXPECT_NE(e.find("'xlstm_block_stack.blocks.0.xlstm.slstm_cell._recurrent_kernel_' has the "
                   "shape of the vanilla backend's layout"),
            std::string::npos)
      << e;
}

TEST(FamilyWeights, AKernelOfNeitherLayoutIsNamed) {
  json j = fixture_config("s_only");
  j["slstm_block"]["slstm"]["num_heads"] = 2;  // other head shapes: neither layout fits
  const fs::path dir = with_config(j, "wrong_heads");
  const std::string e = load_error(dir);
  fs::remove_all(dir);
  EXPECT_NE(e.find("xlstm_block_stack.blocks.0.xlstm.fgate.weight"), std::string::npos) << e;
}

TEST(FamilyState, AStateOfAnotherLayoutIsRefusedNamingTheBlock) {
  Model m1s1 = Model::load(testing::fixtures() / "family" / "m1s1");
  const fs::path file = fs::temp_directory_path() / "xlstm_family_m1s1_state.safetensors";
  m1s1.new_state(2).save(file);
  // Same block count, other types.
  json j = fixture_config("m1s1");
  j["slstm_at"] = {0};
  j.erase("_block_map");
  ModelConfig other = parse_config(j.dump(), "c").config;
  try {
    State::load(file, other);
    ADD_FAILURE() << "loaded a state of another layout";
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("block 0 is 'mlstm_v1' in the file, 'slstm' in the model"),
              std::string::npos)
        << e.what();
  }
  // An xLSTM Large model: another block count.
  const ModelConfig large = Model::load(testing::fixtures() / "models" / "nxai_odd_heads").config();
  EXPECT_THROW(State::load(file, large), InvalidInput);
  fs::remove(file);
  // A state of the wrong model is refused by forward, naming the block.
  State wrong(other, 2);
  try {
    m1s1.forward(std::vector<int32_t>{1, 2}, wrong);
    ADD_FAILURE() << "ran a state of another layout";
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("block 0 is 'slstm'"), std::string::npos) << e.what();
  }
}

TEST(FamilyModel, RandomStacksRunEveryFormulationAlike) {
  json j = fixture_config("m7s1");
  ModelConfig c = parse_config(j.dump(), "c").config;
  Model model = Model::random(c, 7);
  std::vector<int32_t> ids;
  for (int i = 0; i < 2 * 45; ++i) ids.push_back((i * 37 + 11) % 97);
  State a = model.new_state(2), b = model.new_state(2);
  const auto chunk =
      model.forward(ids, a, {.formulation = Formulation::Chunkwise, .chunk_size = 16});
  const auto step = model.forward(ids, b, {.formulation = Formulation::Step});
  EXPECT_LE(testing::rel_l2(chunk, step), 1e-4f);
  for (float x : chunk) ASSERT_TRUE(std::isfinite(x));
}

}  // namespace
}  // namespace xlstm
