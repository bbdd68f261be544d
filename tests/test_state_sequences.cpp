// Running a prefix of a state's sequences (RunOptions::rows) and moving single sequences between
// states (State::copy_sequence): what a server's continuous batching and prefix cache rest on.
// Both bundled models (xLSTM Large; mLSTM v1 + sLSTM), on the CPU and, where there is one, the GPU.
// Same shapes through the same code give the same bits, so the comparisons are exact.
#include <gtest/gtest.h>

#include <string>
#include <tuple>

#include "cuda_test_util.h"
#include "test_util.h"
#include "xlstm/error.h"
#include "xlstm/model.h"
#include "xlstm/sampler.h"

namespace xlstm {
namespace {

const std::filesystem::path kModels = std::filesystem::path(XLSTM_SOURCE_DIR) / "models";

using Case = std::tuple<std::string, Device>;

class StateSequences : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    if (std::get<1>(GetParam()) == Device::Cuda) XLSTM_SKIP_WITHOUT_CUDA();
    LoadOptions o;
    o.device = std::get<1>(GetParam());
    model_ = std::make_unique<Model>(Model::load(kModels / std::get<0>(GetParam()), o));
  }

  // B sequences of S distinct tokens each.
  std::vector<int32_t> ids(int64_t B, int64_t S, int32_t first) const {
    std::vector<int32_t> v(static_cast<size_t>(B * S));
    const auto V = static_cast<int32_t>(model_->config().vocab_size);
    for (size_t i = 0; i < v.size(); ++i) v[i] = (first + 7 * static_cast<int32_t>(i)) % V;
    return v;
  }

  // Every float of sequence b, block by block.
  static std::vector<float> floats(const State& s, int64_t b) {
    std::vector<float> out;
    const State one = s.slice(b);
    for (const auto& block : one.blocks())
      for (const auto& t : block.tensors) out.insert(out.end(), t.data.begin(), t.data.end());
    return out;
  }

  std::unique_ptr<Model> model_;
};

TEST_P(StateSequences, RowsRunOnlyTheFirstSequences) {
  Model& m = *model_;
  State full = m.new_state(4);
  m.forward(ids(4, 9, 3), full);  // every row holds a different history
  State pair = m.new_state(2);
  pair.copy_sequence(0, full, 0);
  pair.copy_sequence(1, full, 1);
  const auto row2 = floats(full, 2), row3 = floats(full, 3);

  RunOptions rows2;
  rows2.rows = 2;
  for (int64_t S : {5, 1, 1, 70}) {  // prefill, steps (graphs on CUDA), a longer segment
    const auto next = ids(2, S, static_cast<int32_t>(S));
    const auto got = m.forward(next, full, rows2);
    const auto want = m.forward(next, pair);
    ASSERT_EQ(got.size(), want.size());
    EXPECT_EQ(got, want) << "S = " << S;
  }
  EXPECT_EQ(floats(full, 0), floats(pair, 0));
  EXPECT_EQ(floats(full, 1), floats(pair, 1));
  EXPECT_EQ(floats(full, 2), row2);  // untouched
  EXPECT_EQ(floats(full, 3), row3);
}

TEST_P(StateSequences, SampledRowsMatchTheSmallerBatch) {
  Model& m = *model_;
  State full = m.new_state(3), pair = m.new_state(2);
  const auto prompt = ids(2, 6, 11);
  RunOptions rows2;
  rows2.rows = 2;
  m.forward(prompt, full, rows2);
  m.forward(prompt, pair);
  SamplingParams greedy;
  greedy.temperature = 0.0f;
  const std::vector<double> u = {0.5, 0.5};
  std::vector<int32_t> a = {1, 2}, b = {1, 2};
  for (int step = 0; step < 8; ++step) {
    a = m.forward_sample(a, full, greedy, u, {}, rows2);
    b = m.forward_sample(b, pair, greedy, u);
    ASSERT_EQ(a, b) << "step " << step;
  }
}

// The server's decode loop: a step started, then, before its tokens are collected, a copy of
// another state's sequence into a row the step does not run (a joining sequence) and a prefill
// forward of that other state. Same tokens, logits and states as doing it all one after another.
TEST_P(StateSequences, StartedStepLetsOtherWorkRunBeforeItsFinish) {
  Model& m = *model_;
  SamplingParams p;
  p.temperature = 0.9f;
  p.top_k = 20;
  RunOptions rows2;
  rows2.rows = 2;
  const auto run = [&](bool overlapped) {
    State batch = m.new_state(3), prefill = m.new_state(1);
    m.forward(ids(2, 6, 11), batch, rows2);
    std::vector<int32_t> tokens = {1, 2}, out;
    std::vector<float> logits;
    for (int step = 0; step < 6; ++step) {
      const std::vector<double> u = {0.1 + 0.1 * step, 0.9 - 0.1 * step};
      const auto prompt = ids(1, 5, 3 + step);
      // The copy comes first: on a GPU it is queued behind the step still running.
      if (overlapped) {
        m.start_forward_sample(tokens, batch, p, u, {}, rows2);
        batch.copy_sequence(2, prefill, 0);
        logits = m.forward(prompt, prefill);
        tokens = m.finish_forward_sample();
      } else {
        tokens = m.forward_sample(tokens, batch, p, u, {}, rows2);
        batch.copy_sequence(2, prefill, 0);
        logits = m.forward(prompt, prefill);
      }
      out.insert(out.end(), tokens.begin(), tokens.end());
    }
    std::vector<float> all = floats(batch, 0);
    for (int64_t b = 1; b < 3; ++b) {
      const auto f = floats(batch, b);
      all.insert(all.end(), f.begin(), f.end());
    }
    return std::make_tuple(out, logits, all);
  };
  const auto [t1, l1, s1] = run(false);
  const auto [t2, l2, s2] = run(true);
  EXPECT_EQ(t1, t2);
  EXPECT_EQ(l1, l2);
  EXPECT_EQ(s1, s2);

  State s = m.new_state(1);
  const std::vector<double> u = {0.5};
  EXPECT_THROW(m.finish_forward_sample(), InvalidInput);  // nothing started
  m.start_forward_sample(std::vector<int32_t>{1}, s, p, u);
  EXPECT_THROW(m.start_forward_sample(std::vector<int32_t>{1}, s, p, u), InvalidInput);
  EXPECT_EQ(m.finish_forward_sample().size(), 1u);
}

TEST_P(StateSequences, CopySequenceWithinAndAcrossStates) {
  Model& m = *model_;
  State s = m.new_state(3);
  m.forward(ids(3, 8, 5), s);  // on the device for CUDA: the copies below stay there
  const auto row0 = floats(s, 0), row2 = floats(s, 2);
  s.copy_sequence(1, s, 2);  // within one state
  EXPECT_EQ(floats(s, 1), row2);
  EXPECT_EQ(floats(s, 0), row0);

  // Device to host-only state, and back into a state whose newest copy is on the device.
  State one = m.new_state(1);
  one.copy_sequence(0, s, 0);
  EXPECT_EQ(floats(one, 0), row0);
  m.forward(ids(3, 2, 1), s);
  s.copy_sequence(2, one, 0);
  EXPECT_EQ(floats(s, 2), row0);

  // The copy continues as the original: same logits for the same next tokens.
  State a = m.new_state(1), b = m.new_state(1);
  a.copy_sequence(0, s, 2);
  b.copy_sequence(0, one, 0);
  const auto next = ids(1, 4, 9);
  EXPECT_EQ(m.forward(next, a), m.forward(next, b));
  // Both copies on the device now: a device-to-device copy between states.
  b.copy_sequence(0, a, 0);
  EXPECT_EQ(floats(b, 0), floats(a, 0));
}

TEST_P(StateSequences, BadRowsAndSequencesAreNamedErrors) {
  Model& m = *model_;
  State s = m.new_state(2);
  RunOptions o;
  o.rows = 3;
  EXPECT_THROW(m.forward(ids(3, 1, 0), s, o), InvalidInput);
  o.rows = -1;
  EXPECT_THROW(m.forward(ids(2, 1, 0), s, o), InvalidInput);
  o.rows = 2;
  EXPECT_THROW(m.forward(ids(1, 3, 0), s, o), InvalidInput);  // 3 ids for 2 sequences
  EXPECT_THROW(s.copy_sequence(2, s, 0), InvalidInput);
  EXPECT_THROW(s.copy_sequence(0, s, -1), InvalidInput);
  const std::string other =
      std::get<0>(GetParam()) == "tiny-shakespeare" ? "family-shakespeare" : "tiny-shakespeare";
  const State foreign = Model::load(kModels / other).new_state(1);
  EXPECT_THROW(s.copy_sequence(0, foreign, 0), InvalidInput);
}

// A long prefill reports its progress after each segment: tokens per sequence done, and in all.
TEST(RunProgress, CalledAfterEachSegment) {
  Model m = Model::load(kModels / "tiny-shakespeare");
  State s = m.new_state(2);
  RunOptions o;
  o.segment_len = 4;
  std::vector<std::pair<int64_t, int64_t>> calls;
  o.on_progress = [&](int64_t done, int64_t total) { calls.emplace_back(done, total); };
  m.forward(std::vector<int32_t>(20, 5), s, o);  // 2 sequences of 10
  EXPECT_EQ(calls, (std::vector<std::pair<int64_t, int64_t>>{{4, 10}, {8, 10}, {10, 10}}));
}

INSTANTIATE_TEST_SUITE_P(Models, StateSequences,
                         ::testing::Combine(::testing::Values("tiny-shakespeare",
                                                              "family-shakespeare"),
                                            ::testing::Values(Device::Cpu, Device::Cuda)),
                         [](const auto& info) {
                           std::string name =
                               std::get<0>(info.param) +
                               (std::get<1>(info.param) == Device::Cpu ? "_cpu" : "_cuda");
                           for (auto& ch : name)
                             if (ch == '-') ch = '_';
                           return name;
                         });

}  // namespace
}  // namespace xlstm
