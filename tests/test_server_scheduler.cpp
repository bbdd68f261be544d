// The scheduler itself (no HTTP): prompts prefilled together, in one forward per step up to the
// nearest chunk end among them, give the greedy tokens each gives alone.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "server/metrics.h"
#include "server/scheduler.h"
#include "test_util.h"
#include "xlstm/model.h"
#include "xlstm/tokenizer.h"

namespace xlstm::server {
namespace {

const std::string kTiny = std::string(XLSTM_SOURCE_DIR) + "/models/tiny-shakespeare";

struct Outcome {
  std::vector<std::vector<int32_t>> tokens;  // per prompt, the generated ids
  std::vector<std::string> text, finish;     // per prompt: the text and the finish reason
  uint64_t prefill_forwards = 0;
};

// All prompts are queued before the scheduler starts, so that it admits them together (up to
// prefill_batch); greedy, 12 new tokens each, no state cache.
// Sets up job i (stop strings, sampling, log-probabilities) before it is queued.
using Configure = std::function<void(Job&, size_t)>;

Outcome run_together(Model& model, const Tokenizer& tok,
                     const std::vector<std::vector<int32_t>>& prompts, int64_t prefill_batch,
                     const Configure& configure = {}) {
  Metrics metrics;
  SchedulerOptions o;
  o.max_batch = 16;
  o.prefill_batch = prefill_batch;
  o.prefill_chunk = 16;
  o.state_cache_bytes = 0;
  Scheduler scheduler(model, tok, metrics, o);
  std::vector<std::shared_ptr<Job>> jobs;
  for (const auto& p : prompts) {
    auto j = std::make_shared<Job>();
    j->channel = std::make_shared<Channel>(1, true);
    j->tokens = p;
    j->max_tokens = 12;
    j->ignore_eos = true;
    if (configure) configure(*j, jobs.size());
    jobs.push_back(j);
  }
  EXPECT_EQ(scheduler.post(jobs), PostResult::Queued);
  Outcome run;
  run.tokens.resize(prompts.size());
  run.text.resize(prompts.size());
  run.finish.resize(prompts.size());
  // The scheduler runs on this thread (the one that loaded the model); a reader gathers the
  // events and stops it once every prompt has finished.
  std::thread reader([&] {
    for (size_t i = 0; i < jobs.size(); ++i) {
      for (bool finished = false; !finished;) {
        for (const Event& e : jobs[i]->channel->take(std::chrono::milliseconds(20))) {
          if (e.token >= 0) run.tokens[i].push_back(e.token);
          run.text[i] += e.text;
          if (!e.finish_reason.empty()) run.finish[i] = e.finish_reason;
          finished = finished || !e.finish_reason.empty();
        }
      }
    }
    scheduler.drain(std::chrono::milliseconds(10000));
  });
  scheduler.run();
  reader.join();
  run.prefill_forwards = metrics.prefill_forwards();
  return run;
}

TEST(ServerScheduler, PromptsPrefilledTogetherEqualEachAlone) {
  Model model = Model::load(kTiny);
  const Tokenizer tok = Tokenizer::from_file(kTiny + "/tokenizer.json");
  // Lengths on both sides of the 16-token chunks, so the shared forwards stop at each prompt's
  // chunk ends and at its end.
  std::vector<std::vector<int32_t>> prompts;
  for (int len : {3, 16, 17, 29, 40, 47, 64, 71}) {
    std::vector<int32_t> p = {0};
    for (int j = 1; j < len; ++j) p.push_back(30 + (len * 131 + j * 17 + j * j) % 1900);
    prompts.push_back(p);
  }
  const Outcome together = run_together(model, tok, prompts, 8);
  uint64_t alone_forwards = 0;
  for (size_t i = 0; i < prompts.size(); ++i) {
    const Outcome alone = run_together(model, tok, {prompts[i]}, 1);
    alone_forwards += alone.prefill_forwards;
    ASSERT_EQ(together.tokens[i].size(), 12u) << "prompt " << i;
    EXPECT_EQ(together.tokens[i], alone.tokens[0])
        << "prompt " << i << " (length " << prompts[i].size() << ")";
  }
  // Together the prompts share passes: fewer than the 21 they take alone (one per 16-token piece).
  std::printf("[ sched ] prefill passes: %lu together, %lu alone\n",
              static_cast<unsigned long>(together.prefill_forwards),
              static_cast<unsigned long>(alone_forwards));
  EXPECT_LT(together.prefill_forwards, alone_forwards);
}

// With XLSTM_SERVE_OVERLAP=1 the scheduler emits a step's tokens while the next step runs even on
// the CPU (whose steps are synchronous; on a GPU that is the default), so these tests run that
// bookkeeping here: rows found done while a step already carries them, rows switching between
// sampling on the device and on the host.
class OverlapEnv : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    if (GetParam() != nullptr) setenv("XLSTM_SERVE_OVERLAP", GetParam(), 1);
  }
  void TearDown() override { unsetenv("XLSTM_SERVE_OVERLAP"); }
};

std::vector<std::vector<int32_t>> three_prompts() {
  std::vector<std::vector<int32_t>> prompts;
  for (int len : {5, 9, 13}) {
    std::vector<int32_t> p = {0};
    for (int j = 1; j < len; ++j) p.push_back(30 + (len * 97 + j * 29) % 1900);
    prompts.push_back(p);
  }
  return prompts;
}

// A sequence that a stop string ends is found to be done while the next decode step already
// runs with it: that extra token must not reach it, and the sequences around it must not notice.
TEST_P(OverlapEnv, StopStringEndsOneSequenceAmongOthersAsAlone) {
  Model model = Model::load(kTiny);
  const Tokenizer tok = Tokenizer::from_file(kTiny + "/tokenizer.json");
  const auto prompts = three_prompts();
  // A stop string from the middle of what the first prompt generates unstopped.
  const Outcome free_run = run_together(model, tok, {prompts[0]}, 1);
  ASSERT_GE(free_run.text[0].size(), 6u);
  const std::string stop = free_run.text[0].substr(free_run.text[0].size() / 2, 2);
  const Configure first_stops = [&](Job& j, size_t i) {
    if (i == 0) j.stop = {stop};
  };
  const Outcome alone = run_together(model, tok, {prompts[0]}, 1, first_stops);
  ASSERT_EQ(alone.finish[0], "stop");
  ASSERT_LT(alone.tokens[0].size(), 12u);
  const Outcome together = run_together(model, tok, prompts, 3, first_stops);
  EXPECT_EQ(together.finish[0], "stop");
  EXPECT_EQ(together.tokens[0], alone.tokens[0]);
  EXPECT_EQ(together.text[0], alone.text[0]);
  for (size_t i = 1; i < prompts.size(); ++i) {
    const Outcome other = run_together(model, tok, {prompts[i]}, 1);
    EXPECT_EQ(together.tokens[i], other.tokens[0]) << "prompt " << i;
    EXPECT_EQ(together.finish[i], "length") << "prompt " << i;
  }
}

// Seeded sampling, and a job that asks for log-probabilities (so the batch samples on the host
// while it runs and on the device before and after it): every job's tokens are its tokens alone.
TEST_P(OverlapEnv, SampledJobsAndAHostSampledJobEqualEachAlone) {
  Model model = Model::load(kTiny);
  const Tokenizer tok = Tokenizer::from_file(kTiny + "/tokenizer.json");
  const auto prompts = three_prompts();
  const Configure sampled = [](Job& j, size_t i) {
    j.sampling.temperature = 0.9f;
    j.sampling.top_k = 40;
    j.sampling.seed = 7 + i;
    if (i == 1) j.logprobs = 2, j.max_tokens = 5;  // joins the others and leaves early
  };
  const Outcome together = run_together(model, tok, prompts, 1, sampled);
  for (size_t i = 0; i < prompts.size(); ++i) {
    const Outcome alone =
        run_together(model, tok, {prompts[i]}, 1, [&](Job& j, size_t) { sampled(j, i); });
    EXPECT_EQ(together.tokens[i], alone.tokens[0]) << "prompt " << i;
  }
  EXPECT_EQ(together.tokens[1].size(), 5u);
}

std::string overlap_name(const ::testing::TestParamInfo<const char*>& info) {
  if (info.param == nullptr) return "default";
  return std::string(info.param) == "1" ? "on" : "off";
}

INSTANTIATE_TEST_SUITE_P(Overlap, OverlapEnv, ::testing::Values(nullptr, "1", "0"), overlap_name);

}  // namespace
}  // namespace xlstm::server
