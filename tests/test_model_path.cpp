// -m org/name: a model found in the local Hugging Face cache (refs/<revision> →
// snapshots/<commit>), the cache directory chosen as huggingface_hub chooses it, and a clear error
// when it is not there.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "test_util.h"
#include "xlstm/error.h"
#include "xlstm/model_path.h"

namespace xlstm {
namespace {

namespace fs = std::filesystem;

const std::string kCommit = "0123456789abcdef0123456789abcdef01234567";

// A cache holding org/tiny at `main` (and the bundled model's files in its snapshot).
class HfCache : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("xlstm_hf_cache_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
             "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    hub_ = root_ / "hub";
    const auto repo = hub_ / "models--org--tiny";
    snapshot_ = repo / "snapshots" / kCommit;
    fs::create_directories(snapshot_);
    fs::create_directories(repo / "refs");
    std::ofstream(repo / "refs" / "main") << kCommit;  // no newline, as huggingface_hub writes it
    const fs::path model = fs::path(XLSTM_SOURCE_DIR) / "models" / "tiny-shakespeare";
    for (const auto& f : fs::directory_iterator(model))
      fs::copy(f.path(), snapshot_ / f.path().filename());
    for (const char* v : {"HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME"})
      unsetenv(v);
  }
  void TearDown() override {
    for (const char* v : {"HF_HUB_CACHE", "HF_HOME"}) unsetenv(v);
    fs::remove_all(root_);
  }
  fs::path root_, hub_, snapshot_;
};

TEST_F(HfCache, HubIdResolvesToTheSnapshotOfMain) {
  setenv("HF_HUB_CACHE", hub_.c_str(), 1);
  EXPECT_EQ(resolve_model_path("org/tiny"), snapshot_);
  EXPECT_EQ(resolve_model_path("org/tiny@" + kCommit), snapshot_);
  EXPECT_EQ(hf_hub_cache_dir(), hub_);
}

TEST_F(HfCache, HfHomeGivesItsHubDirectory) {
  setenv("HF_HOME", root_.c_str(), 1);
  EXPECT_EQ(hf_hub_cache_dir(), root_ / "hub");
  EXPECT_EQ(resolve_model_path("org/tiny"), snapshot_);
}

TEST_F(HfCache, PathsAndNonIdsComeBackAsTheyAre) {
  setenv("HF_HUB_CACHE", hub_.c_str(), 1);
  EXPECT_EQ(resolve_model_path(snapshot_.string()), snapshot_);
  EXPECT_EQ(resolve_model_path("no_such_dir"), fs::path("no_such_dir"));
  EXPECT_EQ(resolve_model_path("/abs/no/such"), fs::path("/abs/no/such"));
}

TEST_F(HfCache, MissingModelOrRevisionNamesTheCache) {
  setenv("HF_HUB_CACHE", hub_.c_str(), 1);
  for (const std::string& id :
       std::vector<std::string>{"org/other", "org/tiny@v2", "org/tiny@" + std::string(40, 'f')}) {
    try {
      resolve_model_path(id);
      ADD_FAILURE() << id << " resolved";
    } catch (const InvalidInput& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(hub_.string()), std::string::npos) << msg;
      EXPECT_NE(msg.find("hf download"), std::string::npos) << msg;
    }
  }
  // A ref that does not hold a commit hash is no snapshot either.
  std::ofstream(hub_ / "models--org--tiny" / "refs" / "main") << "garbage";
  EXPECT_THROW(resolve_model_path("org/tiny"), InvalidInput);
}

// The CLI with an environment assignment ("NAME=value ") in front.
std::pair<int, std::string> run_cli_env(const std::string& env, const std::string& args) {
  const auto r = testing::run_command(env + XLSTM_CLI_PATH + " " + args + " 2>&1");
  return {r.code, r.out};
}

TEST_F(HfCache, CliGeneratesFromAHubId) {
  const std::string env = "HF_HUB_CACHE=" + hub_.string() + " ";
  const auto [code, out] = run_cli_env(env, "generate -m org/tiny -p ROMEO: -n 5 --temp 0");
  EXPECT_EQ(code, 0) << out;
  const auto [code2, out2] = run_cli_env(env, "info -m org/missing");
  EXPECT_EQ(code2, 1) << out2;
  EXPECT_NE(out2.find(hub_.string()), std::string::npos) << out2;
}

}  // namespace
}  // namespace xlstm
