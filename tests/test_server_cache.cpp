// The state cache never lies: every way a prompt can start from a stored state (a cached prefix
// shorter than the prompt, one token short of it, the prompt itself cached, a prefix ending inside
// a prefill chunk, a named state, a CLI checkpoint) gives the tokens and log-probabilities of a
// cold run on a server without a cache; eviction never serves another prompt's state; hits show
// in /metrics and cut the time to first token.
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <chrono>

#include "server_harness.h"
#include "test_util.h"

namespace xlstm::testing {
namespace {

const std::string kTiny = kServeModels + "tiny-shakespeare";
constexpr int kChunk = 16;

const char* kPassage =
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n"
    "First Citizen:\nYou are all resolved rather to die than to famish?\n\nAll:\nResolved. "
    "resolved.\n\nFirst Citizen:\nFirst, you know Caius Marcius is chief enemy to the people.\n";

json greedy(const std::vector<int32_t>& prompt, int max_tokens = 16) {
  return {{"prompt", prompt},
          {"max_tokens", max_tokens},
          {"temperature", 0},
          {"logprobs", 2},
          {"ignore_eos", true}};
}

std::vector<int32_t> slice(const std::vector<int32_t>& v, size_t a, size_t b) {
  return {v.begin() + static_cast<long>(a), v.begin() + static_cast<long>(b)};
}

int64_t cached_tokens(const Completion& c) {
  return c.raw["usage"]["prompt_tokens_details"]["cached_tokens"].get<int64_t>();
}

class ServerCache : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    state_dir_ = new std::string(std::filesystem::temp_directory_path() /
                                 ("xlstm_states_" + std::to_string(::getpid())));
    cold_ = new ServerProcess({"-m", kTiny, "--state-cache-mb", "0"});
    cached_ = new ServerProcess(
        {"-m", kTiny, "--prefill-chunk", std::to_string(kChunk), "--state-dir", *state_dir_});
    auto c = cold_->client();
    // As the server sees it: BOS first (the model's config asks for it).
    prompt_ = new std::vector<int32_t>{0};
    const auto tokens = post_json(c, "/tokenize", {{"prompt", kPassage}}).body["tokens"];
    for (int32_t t : tokens) prompt_->push_back(t);
  }
  static void TearDownTestSuite() {
    delete cold_;
    delete cached_;
    std::filesystem::remove_all(*state_dir_);
    delete state_dir_;
    delete prompt_;
  }
  Completion cold(const std::vector<int32_t>& p) {
    auto c = cold_->client();
    return complete(c, greedy(p));
  }
  static ServerProcess *cold_, *cached_;
  static std::string* state_dir_;
  static std::vector<int32_t>* prompt_;
};
ServerProcess* ServerCache::cold_ = nullptr;
ServerProcess* ServerCache::cached_ = nullptr;
std::string* ServerCache::state_dir_ = nullptr;
std::vector<int32_t>* ServerCache::prompt_ = nullptr;

TEST_F(ServerCache, EveryCachedPrefixPathEqualsAColdRun) {
  const auto& P = *prompt_;
  const size_t L = P.size();
  ASSERT_GT(L, 60u);
  ASSERT_NE(L % kChunk, 0u);
  auto c = cached_->client();
  // A shorter prompt first: states at 16, 32 and its end, 40, inside the chunk [32, 48).
  complete(c, greedy(slice(P, 0, 40)));
  // Shorter than the prompt, ending inside a chunk: resumes at 40.
  auto r = complete(c, greedy(P));
  EXPECT_EQ(cached_tokens(r), 40);
  expect_same_greedy(r, cold(P), "resumed at 40");
  // The prompt itself is cached now (its end state): a prompt needs its last token's logits, so
  // it resumes at the last chunk end before it.
  r = complete(c, greedy(P));
  EXPECT_EQ(cached_tokens(r), static_cast<int64_t>((L - 1) / kChunk * kChunk));
  expect_same_greedy(r, cold(P), "prompt itself cached");
  // One token short: P is cached, P + one token resumes at L.
  auto Q = P;
  Q.push_back(201);
  r = complete(c, greedy(Q));
  EXPECT_EQ(cached_tokens(r), static_cast<int64_t>(L));
  expect_same_greedy(r, cold(Q), "one token short");
  // Another prompt that leaves the cached one inside a chunk (token 37): the state at 40 is not
  // its prefix; it resumes at 32.
  auto D = slice(P, 0, 37);
  for (int32_t t : {300, 301, 302, 303, 304, 305}) D.push_back(t);
  r = complete(c, greedy(D));
  EXPECT_EQ(cached_tokens(r), 32);
  expect_same_greedy(r, cold(D), "diverging inside a chunk");
  // Text prompts take the same path (BOS and all): the text of P resumes from P's states.
  auto t = complete(c, {{"prompt", kPassage},
                        {"max_tokens", 16},
                        {"temperature", 0},
                        {"logprobs", 2},
                        {"ignore_eos", true}});
  EXPECT_GT(cached_tokens(t), 0);
  expect_same_greedy(t, cold(P), "text prompt");
}

// Prompts that share a beginning and then differ (a system prompt, then other text): the second
// resumes at the last chunk end inside the shared part and leaves a state where it diverges from
// the first; from the third on they resume exactly there.
TEST_F(ServerCache, SharedBeginningsResumeWhereThePromptsDiverge) {
  const auto& P = *prompt_;
  std::vector<int32_t> base = {0};
  for (size_t i = 10; i < 60; ++i) base.push_back(P[i]);  // 51 tokens
  auto with = [&](std::vector<int32_t> tail) {
    auto v = base;
    v.insert(v.end(), tail.begin(), tail.end());
    return v;
  };
  auto c = cached_->client();
  EXPECT_EQ(cached_tokens(complete(c, greedy(with({300, 301, 302})))), 0);
  EXPECT_EQ(cached_tokens(complete(c, greedy(with({400, 401})))), 48);
  const auto third = with({500, 501, 502, 503});
  const auto r = complete(c, greedy(third));
  EXPECT_EQ(cached_tokens(r), 51);
  expect_same_greedy(r, cold(third), "resumed where the prompts diverge");
}

TEST_F(ServerCache, NamedStatesAndCliCheckpointsContinueExactly) {
  const auto& P = *prompt_;
  const size_t L = P.size();
  auto c = cached_->client();
  const auto ref = cold(P);
  // Saved by the server, continued by the server.
  auto s = post_json(c, "/v1/states/sys.v1", {{"prompt", slice(P, 0, 50)}});
  ASSERT_EQ(s.status, 200) << s.body;
  EXPECT_EQ(s.body["tokens"], 50);
  json body = greedy(slice(P, 50, L));
  body["state"] = "sys.v1";
  auto r = complete(c, body);
  EXPECT_EQ(r.raw["usage"]["prompt_tokens"], static_cast<int64_t>(L));
  EXPECT_GE(cached_tokens(r), 49);
  expect_same_greedy(r, ref, "named state");
  // An empty continuation: the state's own prompt.
  body = greedy({});
  body["prompt"] = "";
  body["state"] = "sys.v1";
  expect_same_greedy(complete(c, body), cold(slice(P, 0, 50)), "named state, empty prompt");

  // Saved by the CLI in another process, continued by the server; and the reverse.
  auto ids = [](const std::vector<int32_t>& v) {
    std::string s;
    for (size_t i = 0; i < v.size(); ++i) {
      if (i) s += ',';
      s += std::to_string(v[i]);
    }
    return s;
  };
  const std::string cli =
      std::string(XLSTM_CLI_PATH) + " generate " + device_flags() + " -m " + kTiny;
  ASSERT_EQ(std::system((cli + " --ids " + ids(slice(P, 0, 45)) + " -n 0 --state-out " +
                         *state_dir_ + "/cli.safetensors > /dev/null 2>&1")
                            .c_str()),
            0);
  body = greedy(slice(P, 45, L));
  body["state"] = "cli";
  expect_same_greedy(complete(c, body), ref, "CLI checkpoint in the server");
  const std::string out =
      run_command(cli + " --state-in " + *state_dir_ + "/sys.v1.safetensors --ids " +
                  ids(slice(P, 50, L)) + " -n 16 --ignore-eos --print-ids 2>/dev/null")
          .out;
  std::vector<int32_t> cli_ids;
  std::stringstream ss(out);
  for (std::string item; std::getline(ss, item, ',');) cli_ids.push_back(std::stoi(item));
  EXPECT_EQ(cli_ids, ref.ids) << "server state in the CLI";

  // Names that could leave the directory (a decoded '/' matches no route), and unknown names.
  for (const std::string bad : {"..", ".x", "a%2Fb", "%2E%2E", "a%00b", "..%2F..%2Fx"}) {
    auto e = post_json(c, "/v1/states/" + bad, {{"prompt", "x"}});
    EXPECT_TRUE(e.status == 400 || e.status == 404) << bad << " " << e.body;
  }
  body = greedy({1, 2});
  body["state"] = "nope";
  EXPECT_EQ(post_json(c, "/v1/completions", body).status, 404);
  for (const auto& f : std::filesystem::directory_iterator(*state_dir_))
    EXPECT_EQ(f.path().extension(), ".safetensors") << f.path();
}

// A cache of about seven states and thirty prompts that share their first chunk but not their
// second: entries are evicted and their slots reused all the time, and every answer is still the
// cold one.
TEST(ServerCacheEviction, EvictedAndReusedEntriesNeverServeAnotherPrompt) {
  ServerProcess cold({"-m", kTiny, "--state-cache-mb", "0"});
  ServerProcess small({"-m", kTiny, "--state-cache-mb", "1", "--prefill-chunk", "8"});
  auto cc = cold.client();
  auto sc = small.client();
  std::vector<std::vector<int32_t>> prompts;
  for (int32_t k = 0; k < 30; ++k) {
    std::vector<int32_t> p = {0, 50, 51, 52, 53, 54, 55, 56};
    for (int32_t j = 0; j < 12; ++j) p.push_back(100 + (k * 7 + j * 13) % 900);
    prompts.push_back(p);
  }
  std::vector<Completion> ref;
  for (const auto& p : prompts) ref.push_back(complete(cc, greedy(p, 8)));
  int hits = 0;
  for (int round = 0; round < 2; ++round) {
    for (size_t k = 0; k < prompts.size(); ++k) {
      const size_t i = round == 0 ? k : (k * 7) % prompts.size();
      auto r = complete(sc, greedy(prompts[i], 8));
      hits += cached_tokens(r) > 0;
      expect_same_greedy(r, ref[i], "prompt " + std::to_string(i));
    }
  }
  EXPECT_GT(metric(sc, "xlstm_state_cache_evictions_total"), 20);
  EXPECT_GT(hits, 30);
  EXPECT_LE(metric(sc, "xlstm_state_cache_bytes"), 1 << 20);
}

// A 2000-token prompt: the second time, its first 1792 tokens (the last chunk end, 7 x 256) come
// from the cache. (Its end state is cached too, but the last token must run for its logits.)
TEST(ServerCacheMetrics, HitsShowAndSkipTheCachedTokens) {
  ServerProcess s({"-m", kTiny});
  auto c = s.client();
  std::vector<int32_t> p = {0};
  for (int i = 1; i < 2000; ++i) p.push_back(100 + (i * 37) % 1500);
  auto timed = [&](const std::vector<int32_t>& prompt) {
    const auto t0 = std::chrono::steady_clock::now();
    complete(c, greedy(prompt, 1));
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  const double hits0 = metric(c, "xlstm_state_cache_hits_total");
  double cold_s = 1e9, warm_s = 1e9;
  for (int rep = 0; rep < 3; ++rep) {
    auto q = p;
    q[1] = 100 + rep;  // a new prompt each time: cold
    cold_s = std::min(cold_s, timed(q));
    warm_s = std::min(warm_s, timed(q));  // the same again: resumed at 1792
  }
  EXPECT_EQ(metric(c, "xlstm_state_cache_hits_total") - hits0, 3);
  EXPECT_GE(metric(c, "xlstm_state_cache_tokens_saved_total"), 3 * 1792);  // chunk ends: 256
  // No timing bound: a timed assertion fails on a loaded machine (seen on a fresh clone with the
  // suite running beside a build: cached 211 ms, cold 534 ms). That hits happen and skip the
  // cached tokens is asserted above; the time saved is the benchmark's to show
  // (bench/results/serve_cpu.md: 12x on the CPU).
  std::printf("2000-token prompt, time to the first token: cold %.1f ms, cached %.1f ms\n",
              cold_s * 1e3, warm_s * 1e3);
}

}  // namespace
}  // namespace xlstm::testing
