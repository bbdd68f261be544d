// The sLSTM cell's batched decode step (slstm_step_batch: every sequence's R·y of a head as one
// few-row product) against the per-sequence recurrence (slstm_head_sequence at S = 1), over
// batches on both sides of linear_f32's few-row limit (8), four chained steps from a fresh state
// (n = 0, then warm). The two sum each R·y in their own float32 order (the same one up to 8
// rows); the tolerance is that rounding, ~DH·u relative per step, with 8x slack for the gates.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "ops/slstm/slstm_cell.h"
#include "test_util.h"

namespace xlstm {
namespace {

using testing::rel_l2;

struct States {
  std::vector<float> y, c, n, m;
  explicit States(size_t size) : y(size), c(size), n(size), m(size) {}
};

TEST(SlstmStepBatch, MatchesThePerSequenceRecurrence) {
  for (const int64_t B : {2, 8, 11}) {
    const int64_t E = 96, NH = 3, DH = E / NH;
    std::mt19937 rng(static_cast<uint32_t>(B));
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> R(static_cast<size_t>(NH * 4 * DH * DH)), bias(static_cast<size_t>(4 * E));
    for (float& v : R) v = normal(rng) / std::sqrt(static_cast<float>(DH));
    for (float& v : bias) v = normal(rng);
    const auto n = static_cast<size_t>(B * E);
    States batched(n), single(n);
    std::vector<float> y_batched(n), y_single(n), wx(static_cast<size_t>(B * 4 * E));
    std::vector<float> scratch(static_cast<size_t>(slstm_step_batch_floats(B, E)));
    for (int step = 0; step < 4; ++step) {
      for (float& v : wx) v = 2.0f * normal(rng);
      slstm_step_batch({B, E, NH, wx.data(), R.data(), bias.data(), batched.y.data(),
                        batched.c.data(), batched.n.data(), batched.m.data(), y_batched.data(),
                        scratch.data()});
      for (int64_t b = 0; b < B; ++b) {
        for (int64_t h = 0; h < NH; ++h) {
          const int64_t o = b * E + h * DH;
          slstm_head_sequence(
              {1, E, DH, h, wx.data() + b * 4 * E, 4 * E, R.data() + h * 4 * DH * DH, bias.data(),
               y_single.data() + b * E, E},
              {single.y.data() + o, single.c.data() + o, single.n.data() + o, single.m.data() + o});
        }
      }
      const std::string what = "B " + std::to_string(B) + ", step " + std::to_string(step);
      // Rows of DH products of magnitude ~1/√DH: sums good to ~DH·u relative; 8x that.
      const float bound = 8.0f * static_cast<float>(DH) * std::ldexp(1.0f, -24) * (step + 1);
      EXPECT_LE(rel_l2(y_batched, y_single), bound) << what;
      EXPECT_LE(rel_l2(batched.c, single.c), bound) << what;
      EXPECT_LE(rel_l2(batched.n, single.n), bound) << what;
      EXPECT_LE(rel_l2(batched.m, single.m), bound) << what;
    }
  }
}

}  // namespace
}  // namespace xlstm
