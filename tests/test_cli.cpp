// The `xlstm` binary as a black box: outputs, exit codes, one-line errors.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "test_util.h"
#include "xlstm/model.h"

namespace xlstm {
namespace {

struct Result {
  int code;
  std::string out;  // stdout + stderr
};

Result run_cli(const std::string& args) {
  const auto r = testing::run_command(std::string(XLSTM_CLI_PATH) + " " + args + " 2>&1");
  return {r.code, r.out};
}

const std::string kModel = (testing::fixtures() / "models" / "nxai_odd_heads").string();
const std::string kTextModel = std::string(XLSTM_SOURCE_DIR) + "/models/tiny-shakespeare";

TEST(Cli, InfoOnTheSevenBConfig) {
  const auto r =
      run_cli("info --config " + (testing::fixtures() / "configs" / "xlstm-7b.json").string());
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("6865424896"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("10944"), std::string::npos);
}

TEST(Cli, LogitsWritesTheSameValuesAsTheLibrary) {
  const auto out = std::filesystem::temp_directory_path() /
                   ("cli_logits_" + std::to_string(::getpid()) + ".npy");
  const auto r =
      run_cli("logits -m " + kModel + " --ids 3,1,4,1,5,9,2,6 --mode step --out " + out.string());
  ASSERT_EQ(r.code, 0) << r.out;
  std::ifstream in(out, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  std::filesystem::remove(out);
  ASSERT_GT(bytes.size(), 128u);
  const size_t header =
      10 + (static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8));
  EXPECT_NE(bytes.find("'shape': (1,8,100)"), std::string::npos);
  std::vector<float> file_logits((bytes.size() - header) / 4);
  std::memcpy(file_logits.data(), bytes.data() + header, file_logits.size() * 4);

  Model model = Model::load(kModel);
  State s = model.new_state(1);
  const std::vector<int32_t> ids = {3, 1, 4, 1, 5, 9, 2, 6};
  EXPECT_LE(testing::max_abs_diff(file_logits, model.forward(ids, s)), 1e-4f);
}

TEST(Cli, GeneratePrintsIdsAndIsDeterministicPerSeed) {
  const std::string args =
      "generate -m " + kModel + " --ids 5,6,7 -n 10 --temp 0.9 --top-k 20 --seed 1 --ignore-eos";
  const auto a = run_cli(args), b = run_cli(args);
  ASSERT_EQ(a.code, 0) << a.out;
  EXPECT_EQ(a.out.substr(0, a.out.find('\n')), b.out.substr(0, b.out.find('\n')));
  EXPECT_EQ(std::count(a.out.begin(), a.out.begin() + a.out.find('\n'), ','), 9);
}

// One table row per batch size, each naming the decode path that ran (on the CPU: "cpu").
TEST(Cli, BenchPrintsARowPerBatchWithItsDecodePath) {
  const auto r = run_cli("bench -m " + kModel + " --prompt-len 4 --gen 2 --batch 1,2");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("| peak GPU MiB | decode |"), std::string::npos) << r.out;
  for (const char* row : {"|     1 |      4 |", "|     2 |      4 |"}) {
    const size_t at = r.out.find(row);
    ASSERT_NE(at, std::string::npos) << row << " in\n" << r.out;
    const std::string line = r.out.substr(at, r.out.find('\n', at) - at);
    EXPECT_EQ(line.substr(line.size() - 7), "| cpu |") << line;
  }
}

TEST(Cli, TokenizeAndDetokenizeRoundTrip) {
  const std::string tok =
      std::string(XLSTM_SOURCE_DIR) + "/models/tokenizers/gpt-neox-20b/tokenizer.json";
  const auto ids = run_cli("tokenize --tokenizer " + tok + " -p 'The capital of France is' --json");
  ASSERT_EQ(ids.code, 0) << ids.out;
  EXPECT_EQ(ids.out, "[510, 5347, 273, 6181, 310]\n");
  const auto text = run_cli("detokenize --tokenizer " + tok + " --ids 510,5347,273,6181,310");
  EXPECT_EQ(text.out, "The capital of France is\n");
  const auto missing = run_cli("generate -m " + kModel + " -p hello");
  EXPECT_NE(missing.code, 0);
  EXPECT_NE(missing.out.find("tokenizer.json not found"), std::string::npos) << missing.out;
}

TEST(Cli, ErrorsExitNonZeroWithOneClearLine) {
  struct Case {
    std::string args, expect;
  };
  const Case cases[] = {
      {"logits -m /nonexistent --ids 1 --out /tmp/x.npy", "/nonexistent/config.json"},
      {"logits -m " + kModel + " --ids 1,x,3 --out /tmp/x.npy",
       "--ids: 'x' is not a non-negative integer"},
      {"logits -m " + kModel + " --ids 1,2 --mode fast --out /tmp/x.npy", "--mode"},
      {"generate -m " + kModel + " --ids 1 --top-p 0", "top_p must be in (0, 1]"},
      {"generate -m " + kModel + " --ids 1,500", "token id 500"},
      {"info", "info needs -m DIR or --config FILE"},
      {"generate -m " + kModel, "generate needs a prompt"},
      {"logits -m " + kModel + " --out /tmp/x.npy", "logits needs exactly one of"},
      {"tokenize --tokenizer /nonexistent.json -p hi", "/nonexistent.json"},
      {"generate -m " + kModel + " --ids 1 -n 99999999999", "--n-predict: Value 99999999999"},
      {"generate -m /nonexistent -p hi", "-m /nonexistent: does not exist"},
      {"generate -m " + kTextModel + " -f /tmp", "/tmp: is a directory"},
      {"generate -m " + kModel + " --ids 1 -t 100000", "--threads: Value 100000"},
  };
  for (const auto& c : cases) {
    const auto r = run_cli(c.args);
    EXPECT_NE(r.code, 0) << c.args;
    EXPECT_NE(r.out.find(c.expect), std::string::npos) << c.args << "\n" << r.out;
    EXPECT_EQ(r.out.find("terminate called"), std::string::npos) << r.out;
  }
  EXPECT_NE(run_cli("").code, 0);
}

TEST(Cli, AFifoIsRefusedInsteadOfBlocking) {
  namespace fs = std::filesystem;
  const fs::path fifo = fs::temp_directory_path() / "xlstm_cli_test.fifo";
  fs::remove(fifo);
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const auto r = run_cli("generate -m " + kTextModel + " -f " + fifo.string());
  fs::remove(fifo);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("is not a regular file"), std::string::npos) << r.out;
}

TEST(Cli, TooManyThreadsAreCappedWithAWarning) {
  const auto r = run_cli("generate -m " + kModel + " --ids 1 -n 1 --print-ids -t 60000");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("warning: --threads 60000 is more than the"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace xlstm

namespace xlstm {
namespace {

// The float32 values of a .npy written by `logits` (the last n·4 bytes).
std::vector<float> npy_tail(const std::filesystem::path& p, size_t n) {
  std::ifstream in(p, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<float> v(n);
  if (bytes.size() >= n * 4) std::memcpy(v.data(), bytes.data() + bytes.size() - n * 4, n * 4);
  return v;
}

// Prefill a prefix in one process, save the state, continue in another: the logits of one run.
TEST(Cli, StateFileContinuesARunInAnotherProcess) {
  namespace fs = std::filesystem;
  const std::string models[] = {kModel, (testing::fixtures() / "family" / "m_only").string(),
                                (testing::fixtures() / "family" / "s_only").string(),
                                (testing::fixtures() / "family" / "m1s1").string(),
                                (testing::fixtures() / "family" / "m7s1").string()};
  const fs::path dir = fs::temp_directory_path();
  for (const auto& m : models) {
    const auto whole = dir / "xlstm_cli_whole.npy", a = dir / "xlstm_cli_a.npy",
               b = dir / "xlstm_cli_b.npy", st = dir / "xlstm_cli_state.safetensors";
    ASSERT_EQ(run_cli("logits -m " + m + " --ids 3,1,4,1,5,9,2,6,5,3 --out " + whole.string()).code,
              0);
    ASSERT_EQ(run_cli("logits -m " + m + " --ids 3,1,4,1,5,9 --state-out " + st.string() +
                      " --out " + a.string())
                  .code,
              0);
    const auto r = run_cli("logits -m " + m + " --ids 2,6,5,3 --state-in " + st.string() +
                           " --out " + b.string());
    ASSERT_EQ(r.code, 0) << r.out;
    const auto vocab =
        static_cast<size_t>(load_config(fs::path(m) / "config.json").config.vocab_size);
    std::vector<float> joined = npy_tail(a, 6 * vocab);
    const auto rest = npy_tail(b, 4 * vocab);
    joined.insert(joined.end(), rest.begin(), rest.end());
    EXPECT_LE(testing::rel_l2(joined, npy_tail(whole, 10 * vocab)), 1e-5f) << m;
    // A state of another layout is refused, naming what differs.
    const auto other = run_cli("logits -m " + models[2] + " --ids 1 --state-in " + st.string() +
                               " --out " + b.string());
    if (m != models[2]) {
      EXPECT_NE(other.code, 0) << m;
    }
    fs::remove(whole), fs::remove(a), fs::remove(b), fs::remove(st);
  }
}

}  // namespace
}  // namespace xlstm

namespace xlstm {
namespace {

// `serve` needs a model: -m DIR, or --config FILE (random weights) with --tokenizer FILE.
TEST(Cli, ServeWithoutAModelOrTokenizerIsANamedError) {
  auto r = run_cli("serve");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("serve needs -m DIR or --config FILE"), std::string::npos) << r.out;
  r = run_cli("serve --config " + kTextModel + "/config.json");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("--config needs --tokenizer"), std::string::npos) << r.out;
  r = run_cli("serve -m " + kTextModel + " --config " + kTextModel + "/config.json");
  EXPECT_NE(r.code, 0) << r.out;  // CLI11: the two exclude each other
}

// --seed takes exactly the 64-bit unsigned integers: no wrapped "-1", no saturated 2^64.
TEST(Cli, SeedOutsideUint64IsRefused) {
  for (const char* seed : {"-1", "18446744073709551616", "1e3", "7x"}) {
    const auto r = run_cli("generate -m " + kTextModel + " -p a -n 1 --seed " + seed);
    EXPECT_NE(r.code, 0) << seed << ": " << r.out;
    EXPECT_NE(r.out.find("--seed: expected an integer"), std::string::npos) << r.out;
  }
  EXPECT_EQ(run_cli("generate -m " + kTextModel + " -p a -n 1 --seed 18446744073709551615").code,
            0);
}

}  // namespace
}  // namespace xlstm
