// The three mLSTM formulations agree with each other (and with the quadratic reference) on random
// cells: odd sizes, any chunk size, initial states, large gates that exercise the stabilizer.
#include <gtest/gtest.h>

#include "mlstm_error_bound.h"
#include "ops/mlstm/mlstm_cell.h"
#include "test_util.h"
#include "xlstm/error.h"

namespace xlstm {
namespace {

using testing::randn;
using testing::rel_diff;

struct Cell {
  int64_t S, DHQK, DHV;
  std::vector<float> q, k, v, i, f;
  std::vector<float> C0, n0;
  float m0 = 0.0f;
};

// Gates as the model feeds them: soft-capped at 15. Initial states are real states: those left by a
// random 20-token prefix (random C/n of either sign would make |q̂·n| arbitrarily small, an
// ill-conditioned division that no formulation can match to 1e-5).
Cell random_cell(int64_t S, int64_t DHQK, int64_t DHV, uint64_t seed, float gate_scale,
                 bool with_state) {
  Cell c;
  c.S = S;
  c.DHQK = DHQK;
  c.DHV = DHV;
  c.q = randn(S * DHQK, seed + 1);
  c.k = randn(S * DHQK, seed + 2);
  c.v = randn(S * DHV, seed + 3);
  c.i = randn(S, seed + 4, gate_scale);
  c.f = randn(S, seed + 5, gate_scale, 3.0f);
  for (auto* g : {&c.i, &c.f}) {
    for (auto& x : *g) x = 15.0f * std::tanh(x / 15.0f);
  }
  c.C0.assign(DHQK * DHV, 0.0f);
  c.n0.assign(DHQK, 0.0f);
  if (with_state) {
    Cell prefix = random_cell(20, DHQK, DHV, seed + 1000, gate_scale, false);
    std::vector<float> h(20 * DHV);
    CellSequence seq{20,
                     DHQK,
                     DHV,
                     {prefix.q.data(), DHQK},
                     {prefix.k.data(), DHQK},
                     {prefix.v.data(), DHV},
                     {prefix.i.data(), 1},
                     {prefix.f.data(), 1},
                     h.data(),
                     DHV};
    mlstm_step_sequence(seq, {c.C0.data(), c.n0.data(), &c.m0}, 1e-6f);
  }
  return c;
}

struct Result {
  std::vector<float> h, C, n;
  float m;
};

Result run(const Cell& c, Formulation mode, int64_t chunk, int64_t begin = 0, int64_t end = -1,
           const Result* init = nullptr) {
  if (end < 0) end = c.S;
  Result r;
  r.C = init ? init->C : c.C0;
  r.n = init ? init->n : c.n0;
  r.m = init ? init->m : c.m0;
  const int64_t S = end - begin;
  r.h.assign(S * c.DHV, NAN);  // poisoned: every element must be written
  CellSequence seq{S,
                   c.DHQK,
                   c.DHV,
                   {c.q.data() + begin * c.DHQK, c.DHQK},
                   {c.k.data() + begin * c.DHQK, c.DHQK},
                   {c.v.data() + begin * c.DHV, c.DHV},
                   {c.i.data() + begin, 1},
                   {c.f.data() + begin, 1},
                   r.h.data(),
                   c.DHV};
  mlstm_run(mode, seq, {r.C.data(), r.n.data(), &r.m}, 1e-6f, chunk);
  return r;
}

// Error scales of this cell's outputs (mlstm_error_bound.h); the exact reference is the parallel
// form, evaluated in float64.
testing::CellErrorScale error_scale(const Cell& c) {
  return testing::cell_error_scale({c.S, c.DHQK, c.DHV, c.q.data(), c.k.data(), c.v.data(),
                                    c.i.data(), c.f.data(), c.C0.data(), c.n0.data(), c.m0, 1e-6f});
}

// A float32 evaluation may be this many first-order worst-case error scales away from the exact
// one; the scale already sums rounding magnitudes, so a small constant covers second-order terms.
// Any real error (a wrong gate index, a dropped term) is many orders of magnitude beyond it.
constexpr double kScales = 2.0;

void expect_close(const Result& a, const Result& ref, const testing::CellErrorScale& scale,
                  const std::string& what) {
  using testing::scaled_error;
  EXPECT_LE(scaled_error(a.h, ref.h, scale.h), kScales) << what << ": h";
  EXPECT_LE(scaled_error(a.C, ref.C, scale.C), kScales) << what << ": C";
  EXPECT_LE(scaled_error(a.n, ref.n, scale.n), kScales) << what << ": n";
  EXPECT_LE(scaled_error({a.m}, {ref.m}, {scale.m}), kScales) << what << ": m";
}

struct CellCase {
  int64_t S, DHQK, DHV;
  float gate_scale;
  bool with_state;
};

class FormulationsAgree : public ::testing::TestWithParam<CellCase> {};

TEST_P(FormulationsAgree, ChunkwiseAndStepMatchParallel) {
  const auto p = GetParam();
  const Cell c = random_cell(p.S, p.DHQK, p.DHV, 100 + p.S, p.gate_scale, p.with_state);
  const Result ref = run(c, Formulation::Parallel, 0);
  const auto scale = error_scale(c);
  expect_close(run(c, Formulation::Step, 0), ref, scale, "step");
  for (int64_t chunk : {1, 7, 16, 64, 200}) {
    expect_close(run(c, Formulation::Chunkwise, chunk), ref, scale,
                 "chunkwise L=" + std::to_string(chunk));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cells, FormulationsAgree,
    ::testing::Values(CellCase{1, 8, 12, 1.0f, false}, CellCase{7, 16, 24, 1.0f, true},
                      CellCase{64, 8, 8, 5.0f, false}, CellCase{65, 12, 20, 5.0f, true},
                      CellCase{150, 32, 16, 15.0f, true}, CellCase{300, 8, 32, 15.0f, false}));

TEST(MlstmCell, PrefillInPiecesEqualsWholePrefill) {
  const Cell c = random_cell(150, 16, 24, 7, 5.0f, true);
  const Result exact = run(c, Formulation::Parallel, 0);
  const auto scale = error_scale(c);
  for (auto mode : {Formulation::Parallel, Formulation::Chunkwise, Formulation::Step}) {
    const Result a = run(c, mode, 16, 0, 37);
    const Result b = run(c, mode, 16, 37, 150, &a);
    std::vector<float> h = a.h;
    h.insert(h.end(), b.h.begin(), b.h.end());
    expect_close({h, b.C, b.n, b.m}, exact, scale, formulation_name(mode));
  }
}

// The bound is not vacuous: the classic indexing slip (the gate of step t applied at step t + 1)
// and one ulp-scale perturbation of one weight's worth are told apart.
TEST(MlstmCell, ErrorScaleCatchesAnOffByOneForgetGate) {
  for (const CellCase p : {CellCase{65, 12, 20, 5.0f, true}, CellCase{300, 8, 32, 15.0f, false}}) {
    const Cell c = random_cell(p.S, p.DHQK, p.DHV, 100 + p.S, p.gate_scale, p.with_state);
    Cell shifted = c;
    std::rotate(shifted.f.begin(), shifted.f.begin() + 1, shifted.f.end());
    const Result ref = run(c, Formulation::Parallel, 0);
    const Result wrong = run(shifted, Formulation::Step, 0);
    EXPECT_GT(testing::scaled_error(wrong.h, ref.h, error_scale(c).h), 1000 * kScales);
  }
}

TEST(MlstmCell, StaysFiniteOnLongSequencesWithSaturatedGates) {
  Cell c = random_cell(4000, 8, 8, 11, 15.0f, false);
  for (size_t t = 0; t < c.i.size(); ++t) c.i[t] = (t % 2 ? 15.0f : -15.0f);  // soft-cap extremes
  for (size_t t = 0; t < c.f.size(); ++t) c.f[t] = (t % 3 ? 15.0f : -15.0f);
  for (auto mode : {Formulation::Chunkwise, Formulation::Step}) {
    const Result r = run(c, mode, 64);
    for (float x : r.h) ASSERT_TRUE(std::isfinite(x)) << formulation_name(mode);
    for (float x : r.C) ASSERT_TRUE(std::isfinite(x)) << formulation_name(mode);
    EXPECT_TRUE(std::isfinite(r.m));
  }
}

TEST(MlstmCell, RejectsNonPositiveChunk) {
  const Cell c = random_cell(4, 4, 4, 1, 1.0f, false);
  EXPECT_THROW(run(c, Formulation::Chunkwise, 0), InvalidInput);
}

}  // namespace
}  // namespace xlstm
