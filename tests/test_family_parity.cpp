// The original xLSTM family (mLSTM v1 and sLSTM blocks, stacks 1:0, 0:1, 1:1, 7:1) against the
// official package (tests/fixtures/family, made by scripts/make_family_fixtures.py): logits of
// every formulation, token by token, the state after a prefix, and continuing from it, in memory
// and through a state file. The reference is the official step path (m₀ = 0, the convention a state
// carries; tests/fixtures/family/README.md "Forward vs step"), and its float64 evaluation.
#include <gtest/gtest.h>

#include <cmath>

#include "io/safetensors.h"
#include "test_util.h"
#include "xlstm/error.h"
#include "xlstm/model.h"

namespace xlstm {
namespace {

namespace fs = std::filesystem;
using testing::rel_l2;

// Relative L2 between fp32 implementations of these stacks: the bar; fp32 against the
// float64 evaluation measures 1e-7 to 2e-6 here (README of the fixtures).
constexpr float kRelL2 = 1e-4f;

struct Reference {
  int64_t B = 0, S = 0, P = 0, V = 0;
  std::vector<int32_t> ids;
  std::vector<float> logits_step, logits_f64, logits_forward, after_prefix;
  TensorStore store;
};

Reference read_reference(const fs::path& dir) {
  Reference r{0,  0,  0,  0,  {},
              {}, {}, {}, {}, TensorStore::open_file(dir / "reference.safetensors")};
  const TensorInfo& ids = *r.store.find("ids");
  r.B = ids.shape[0];
  r.S = ids.shape[1];
  for (int64_t v : read_i64(ids)) r.ids.push_back(static_cast<int32_t>(v));
  r.P = read_i64(*r.store.find("prefix_len")).at(0);
  auto get = [&](const char* n) {
    const TensorInfo& t = *r.store.find(n);
    return read_f32(t, t.shape);
  };
  r.logits_step = get("logits_step");
  r.logits_f64 = get("logits_f64");
  r.logits_forward = get("logits");
  r.after_prefix = get("logits_after_prefix");
  r.V = static_cast<int64_t>(r.logits_step.size()) / (r.B * r.S);
  return r;
}

// Columns [s0, s1) of ids [B, S].
std::vector<int32_t> columns(const Reference& r, int64_t s0, int64_t s1) {
  std::vector<int32_t> out;
  for (int64_t b = 0; b < r.B; ++b)
    out.insert(out.end(), r.ids.begin() + b * r.S + s0, r.ids.begin() + b * r.S + s1);
  return out;
}

class FamilyParity : public ::testing::TestWithParam<std::string> {
 protected:
  fs::path dir() const { return testing::fixtures() / "family" / GetParam(); }
};

TEST_P(FamilyParity, EveryFormulationMatchesTheReference) {
  Model model = Model::load(dir());
  const Reference r = read_reference(dir());
  struct Run {
    Formulation f;
    int64_t chunk;
  };
  for (const Run& run : {Run{Formulation::Parallel, 0}, Run{Formulation::Chunkwise, 0},
                         Run{Formulation::Chunkwise, 5}, Run{Formulation::Step, 0}}) {
    const std::string what =
        std::string(formulation_name(run.f)) + " chunk " + std::to_string(run.chunk);
    State state = model.new_state(r.B);
    const auto logits =
        model.forward(r.ids, state, {.formulation = run.f, .chunk_size = run.chunk});
    EXPECT_LE(rel_l2(logits, r.logits_step), kRelL2) << what << " vs official step";
    EXPECT_LE(rel_l2(logits, r.logits_f64), kRelL2) << what << " vs float64";
    EXPECT_LE(rel_l2(logits, r.logits_forward), kRelL2) << what << " vs official forward";
  }
}

TEST_P(FamilyParity, TokenByTokenMatchesTheReference) {
  Model model = Model::load(dir());
  const Reference r = read_reference(dir());
  State state = model.new_state(r.B);
  std::vector<float> logits(r.logits_step.size());
  for (int64_t t = 0; t < r.S; ++t) {
    const auto step = model.forward(columns(r, t, t + 1), state);
    for (int64_t b = 0; b < r.B; ++b)
      std::copy_n(step.begin() + b * r.V, r.V, logits.begin() + (b * r.S + t) * r.V);
  }
  EXPECT_LE(rel_l2(logits, r.logits_step), kRelL2);
}

TEST_P(FamilyParity, StateAfterPrefixAndContinuationMatch) {
  Model model = Model::load(dir());
  const Reference r = read_reference(dir());
  State state = model.new_state(r.B);
  model.forward(columns(r, 0, r.P), state);
  const auto& layout = state.layout();
  for (size_t i = 0; i < layout.size(); ++i) {
    for (const auto& spec : layout[i].tensors) {
      const std::string name = "state." + std::to_string(i) + "." + spec.name;
      const TensorInfo* t = r.store.find(name);
      ASSERT_NE(t, nullptr) << name;
      const auto ref = read_f32(*t, t->shape);
      const auto& ours = state.blocks()[i][spec.name];
      // m is a log-scale stabilizer: absolute error; the rest relative L2.
      if (spec.name == "m") {
        EXPECT_LE(testing::max_abs_diff(ours, ref), 1e-4f) << name;
      } else {
        EXPECT_LE(rel_l2(ours, ref), kRelL2) << name;
      }
    }
  }
  const auto rest = columns(r, r.P, r.S);
  State copy = state;
  const auto continued = model.forward(rest, copy);
  EXPECT_LE(rel_l2(continued, r.after_prefix), kRelL2);

  // Through a file, into a fresh State: the same logits, bit for bit.
  const fs::path file =
      fs::temp_directory_path() / ("xlstm_family_state_" + GetParam() + ".safetensors");
  state.save(file);
  State loaded = State::load(file, model.config());
  fs::remove(file);
  EXPECT_EQ(model.forward(rest, loaded), continued);
}

TEST_P(FamilyParity, SequencesOfABatchAreIndependent) {
  Model model = Model::load(dir());
  const Reference r = read_reference(dir());
  State both = model.new_state(r.B);
  const auto all = model.forward(r.ids, both);
  State one = model.new_state(1);
  const std::vector<int32_t> second(r.ids.begin() + r.S, r.ids.begin() + 2 * r.S);
  const auto alone = model.forward(second, one);
  const std::vector<float> in_batch(all.begin() + r.S * r.V, all.begin() + 2 * r.S * r.V);
  EXPECT_LE(rel_l2(alone, in_batch), 1e-6f);
}

INSTANTIATE_TEST_SUITE_P(Family, FamilyParity,
                         ::testing::Values("m_only", "s_only", "m1s1", "m7s1",
                                           "s_only_cudalayout"));

}  // namespace
}  // namespace xlstm
