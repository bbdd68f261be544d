// SequenceCheckpoint: a sequence saved (state + tokens) and resumed gives what running the whole
// sequence from the start gives; generate --state-out / --state-in do it across processes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "io/safetensors.h"
#include "test_util.h"
#include "xlstm/error.h"
#include "xlstm/generator.h"
#include "xlstm/sequence_checkpoint.h"

namespace xlstm {
namespace {

const std::string kModels = std::string(XLSTM_SOURCE_DIR) + "/models/";

std::filesystem::path temp_file(const std::string& name) {
  return std::filesystem::temp_directory_path() /
         ("ckpt_" + std::to_string(::getpid()) + "_" + name);
}

class Checkpoint : public ::testing::TestWithParam<std::string> {};

// The logits after a resumed sequence equal those of the whole sequence run at once, to fp32
// rounding of two different chunkings (relative 1e-4 of the largest logit).
TEST_P(Checkpoint, ResumeEqualsTheWholeSequence) {
  Model model = Model::load(kModels + GetParam());
  const std::vector<int32_t> a = {0, 44, 52, 60, 15, 9, 201, 33};
  const std::vector<int32_t> b = {70, 71, 14, 201};
  GenerateOptions o;
  o.max_new_tokens = 6;
  o.stop_at_eos = false;
  SequenceCheckpoint ck;
  o.checkpoint = &ck;
  const auto first = generate(model, a, o);
  ASSERT_EQ(ck.tokens.size(), a.size() + first.tokens.size());
  const auto path = temp_file(GetParam() + ".safetensors");
  ck.save(path);
  const auto loaded = SequenceCheckpoint::load(path, model.config());
  std::filesystem::remove(path);
  EXPECT_EQ(loaded.tokens, ck.tokens);

  GenerateOptions r;
  r.max_new_tokens = 12;
  r.stop_at_eos = false;
  r.resume = &loaded;
  const auto resumed = generate(model, b, r);
  std::vector<int32_t> whole = ck.tokens;
  whole.insert(whole.end(), b.begin(), b.end());
  GenerateOptions c = r;
  c.resume = nullptr;
  const auto cold = generate(model, whole, c);
  EXPECT_EQ(resumed.tokens, cold.tokens);
  EXPECT_EQ(resumed.prompt_tokens, cold.prompt_tokens);

  RunOptions run;
  run.all_logits = false;
  State s = loaded.state;
  std::vector<int32_t> rest(whole.begin() + static_cast<long>(loaded.tokens.size()) - 1,
                            whole.end());
  const auto l_resumed = model.forward(rest, s, run);
  State s2 = model.new_state(1);
  const auto l_cold = model.forward(whole, s2, run);
  EXPECT_LT(testing::rel_diff(l_resumed, l_cold), 1e-4f);
}

TEST_P(Checkpoint, ZeroNewTokensStillCoversThePrompt) {
  Model model = Model::load(kModels + GetParam());
  const std::vector<int32_t> a = {0, 44, 52, 60};
  GenerateOptions o;
  o.max_new_tokens = 0;
  SequenceCheckpoint ck;
  o.checkpoint = &ck;
  generate(model, a, o);
  EXPECT_EQ(ck.tokens, a);
  State s = model.new_state(1);
  RunOptions run;
  run.all_logits = false;
  model.forward(std::span<const int32_t>(a).first(3), s, run);
  EXPECT_EQ(ck.state.blocks()[0].tensors[0].data, s.blocks()[0].tensors[0].data);
}

TEST_P(Checkpoint, BareStatesAndBadTokensAreNamedErrors) {
  Model model = Model::load(kModels + GetParam());
  const auto path = temp_file(GetParam() + "_bare.safetensors");
  model.new_state(1).save(path);
  try {
    SequenceCheckpoint::load(path, model.config());
    FAIL() << "a bare state loaded as a checkpoint";
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("xlstm.sequence_tokens"), std::string::npos) << e.what();
  }
  // Tokens outside the vocabulary.
  std::vector<TensorToWrite> tensors;
  std::map<std::string, std::string> meta;
  {
    SafetensorsFile f(path);
    meta = f.metadata();
    for (const auto& [name, t] : f.tensors())
      tensors.push_back({name, t.dtype, t.shape, {t.data, t.data + t.nbytes}});
  }
  for (const std::string bad : {"", "1,,2", "1,99999", "-1", "1,2x"}) {
    meta["xlstm.sequence_tokens"] = bad;
    write_safetensors(path, tensors, meta);
    EXPECT_THROW(SequenceCheckpoint::load(path, model.config()), InvalidInput) << bad;
  }
  std::filesystem::remove(path);
}

INSTANTIATE_TEST_SUITE_P(Models, Checkpoint,
                         ::testing::Values("tiny-shakespeare", "family-shakespeare"));

std::string run_cli(const std::string& args) {
  const std::string cmd = std::string(XLSTM_CLI_PATH) + " " + args + " 2>/dev/null";
  auto [code, out] = testing::run_command(cmd);
  EXPECT_EQ(code, 0) << cmd;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

// Three processes: generate and save, resume with more tokens, and the whole sequence cold.
TEST(CheckpointCli, StateOutThenStateInEqualsTheWholeSequence) {
  const std::string m = "-m " + kModels + "tiny-shakespeare";
  const auto path = temp_file("cli.safetensors");
  const std::string gen1 =
      run_cli("generate " + m + " --ids 0,44,52,60,15 -n 7 --print-ids --ignore-eos --state-out " +
              path.string());
  const std::string gen2 =
      run_cli("generate " + m + " --ids 70,71,14 -n 9 --print-ids --state-in " + path.string() +
              " --ignore-eos");
  const std::string cold = run_cli("generate " + m + " --ids 0,44,52,60,15," + gen1 +
                                   ",70,71,14 -n 9 --print-ids --ignore-eos");
  std::filesystem::remove(path);
  EXPECT_EQ(std::count(gen1.begin(), gen1.end(), ','), 6) << gen1;
  EXPECT_EQ(gen2, cold);
  // Text continues too: no BOS is inserted before a resumed prompt.
  const auto path2 = temp_file("cli_text.safetensors");
  run_cli("generate " + m + " -p 'ROMEO:' -n 4 --print-ids --state-out " + path2.string());
  const std::string t = run_cli("generate " + m + " --state-in " + path2.string() + " -n 4");
  std::filesystem::remove(path2);
  EXPECT_FALSE(t.empty());
}

}  // namespace
}  // namespace xlstm
