// The persistent decode of mLSTM v1 runs (decode_persistent_v1.cu; XLSTM_FAMILY_PERSISTENT=off:
// not) against the per-kernel decode of the same bf16 model and the float32 CPU model: random
// stacks of every mLSTM v1 shape class it takes (narrow and 1024-wide heads, tiles narrower than 32
// columns, a run longer than one launch holds, runs between sLSTM blocks), one sequence, a
// prefill then decode steps (eager, captured and replayed graphs). Then every bf16 decode
// kernel of the family (with and without it) against the prefill of the same tokens. Skips
// without a GPU (the persistent cases without sm_90).
#include <gtest/gtest.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "backend/cuda/decode_persistent_v1.h"
#include "blocks/mlstm_v1/mlstm_v1_config.h"
#include "cuda_test_util.h"
#include "family_shapes.h"
#include "test_util.h"
#include "xlstm/error.h"
#include "xlstm/model.h"

namespace xlstm {
namespace {

using testing::rel_l2;

struct Shape {
  int64_t E, blocks;
  const char* signature;
  int64_t mlstm_heads;
  int64_t expect_head_dim;
  int64_t round_to = 64;  // the up projection's width rounds up to a multiple of this
  bool bias = true;
};

// "7:1" -> "7to1" (test names take letters, digits and underscores only).
std::string signature_name(std::string s) {
  const size_t colon = s.find(':');
  if (colon != std::string::npos) s.replace(colon, 1, "to");
  return s;
}

ModelConfig config_of(const Shape& p) {
  nlohmann::json j = testing::family_shape_json(p.E, p.blocks, p.signature, 4);
  j["mlstm_block"]["mlstm"]["num_heads"] = p.mlstm_heads;
  j["mlstm_block"]["mlstm"]["round_proj_up_to_multiple_of"] = p.round_to;
  j["mlstm_block"]["mlstm"]["bias"] = p.bias;
  j["bias"] = p.bias;
  return parse_config(j.dump(), "shape").config;
}

const MlstmV1Config& first_v1(const ModelConfig& c) {
  for (const BlockSpec& s : c.block_specs())
    if (s.type == "mlstm_v1") return static_cast<const MlstmV1Config&>(*s.config);
  throw std::logic_error("no mlstm_v1 block");
}

// Launches per decode step: one per run of mLSTM v1 blocks and per kMaxV1DecodeLayers of it.
int64_t launches_per_step(const ModelConfig& c) {
  int64_t n = 0, run = 0;
  const auto specs = c.block_specs();
  for (size_t i = 0; i <= specs.size(); ++i) {
    if (i < specs.size() && specs[i].type == "mlstm_v1") {
      ++run;
      continue;
    }
    n += (run + cuda::kMaxV1DecodeLayers - 1) / cuda::kMaxV1DecodeLayers;
    run = 0;
  }
  return n;
}

// jitter_ns > 0: the persistent kernel's blocks pause at random at each phase
// (XLSTM_PD_JITTER_NS), so that they reach the phases in other orders.
Model bf16_model(const ModelConfig& c, bool persistent, uint32_t jitter_ns = 0) {
  setenv("XLSTM_FAMILY_PERSISTENT", persistent ? "on" : "off", 1);
  if (jitter_ns > 0) setenv("XLSTM_PD_JITTER_NS", std::to_string(jitter_ns).c_str(), 1);
  Model m = Model::random(c, 5, true, Device::Cuda);
  unsetenv("XLSTM_FAMILY_PERSISTENT");
  unsetenv("XLSTM_PD_JITTER_NS");
  return m;
}

class CudaV1Decode : public ::testing::TestWithParam<Shape> {};

// On an sm_90 device the kernel launches for the 1.3B shape (E 2048, I 4096, 4 heads): the other
// tests here skip where it cannot, so a kernel grown past its registers or shared memory would
// otherwise pass them all by skipping (as the fourteenth session's first build did).
TEST(CudaV1DecodeSupport, RunsOnHopper) {
  XLSTM_SKIP_WITHOUT_CUDA();
  if (cuda::device_description().find("sm_90") == std::string::npos)
    GTEST_SKIP() << "not an sm_90 device: " << cuda::device_description();
  EXPECT_TRUE(cuda::v1_decode_supported(2048, 4096, 4));
}

// Each step's logits are no further from the float32 CPU model's than the per-kernel bf16
// decode's are (25% slack, plus 1e-3 for steps where both are very close), and close to the
// per-kernel decode's; the states after the steps agree as closely; a second run is bitwise the
// same.
TEST_P(CudaV1Decode, MatchesThePerKernelDecode) {
  const Shape p = GetParam();
  const ModelConfig c = config_of(p);
  const MlstmV1Config& v1 = first_v1(c);
  ASSERT_EQ(v1.head_dim(), p.expect_head_dim);  // the shape class this case is for
  XLSTM_SKIP_WITHOUT_CUDA();
  if (!cuda::v1_decode_supported(v1.embedding_dim, v1.inner_dim, v1.num_heads))
    GTEST_SKIP() << "this device cannot run the persistent v1 decode (sm_90 only)";
  Model cpu = Model::random(c, 5), fused = bf16_model(c, true), plain = bf16_model(c, false);
  State sc = cpu.new_state(1), sf = fused.new_state(1), sp = plain.new_state(1);
  std::vector<int32_t> prompt;
  for (int i = 0; i < 9; ++i) prompt.push_back(static_cast<int32_t>((i * 53 + 7) % 211));
  cpu.forward(prompt, sc);
  fused.forward(prompt, sf);
  plain.forward(prompt, sp);
  const uint64_t launches = cuda::v1_decode_launches();
  const int64_t replays = fused.decode_graph_replays();
  constexpr int kSteps = 8;
  std::vector<std::vector<float>> fused_logits;
  for (int step = 0; step < kSteps; ++step) {
    const std::vector<int32_t> next = {static_cast<int32_t>((step * 31 + 3) % 211)};
    const std::vector<float> ref = cpu.forward(next, sc);
    const std::vector<float> a = fused.forward(next, sf), b = plain.forward(next, sp);
    fused_logits.push_back(a);
    const float err_plain = rel_l2(b, ref);
    EXPECT_LE(rel_l2(a, ref), 1.25f * err_plain + 1e-3f) << "step " << step;
    EXPECT_LE(rel_l2(a, b), 0.5f * err_plain + 1e-3f) << "step " << step;
  }
  // Enqueued by the eager steps and the graph's capture (replays enqueue nothing): whole steps'
  // worth, at least two; and the graph was replayed.
  const auto launched = static_cast<int64_t>(cuda::v1_decode_launches() - launches);
  const int64_t per_step = launches_per_step(c);
  EXPECT_GE(launched, 2 * per_step);
  EXPECT_EQ(launched % per_step, 0);
  EXPECT_GT(fused.decode_graph_replays(), replays);
  // The states: every mLSTM v1 tensor close to the per-kernel decode's.
  const auto& bf = sf.blocks();
  const auto& bp = sp.blocks();
  const auto& bc = sc.blocks();
  const auto specs = c.block_specs();
  for (size_t i = 0; i < specs.size(); ++i) {
    if (specs[i].type != "mlstm_v1") continue;
    for (const char* name : {"conv", "C", "n", "m"}) {
      const float err_plain = rel_l2(bp[i][name], bc[i][name]);
      EXPECT_LE(rel_l2(bf[i][name], bc[i][name]), 1.25f * err_plain + 1e-3f)
          << "block " << i << " " << name;
      EXPECT_LE(rel_l2(bf[i][name], bp[i][name]), 0.5f * err_plain + 1e-3f)
          << "block " << i << " " << name;
    }
  }
  // Bitwise the same when run again, and with the blocks pausing at random at every phase (a race
  // between the blocks would show here): every sum has one order whichever block computes it
  // (gate partials in one fixed order, the head's norm in tile order, each row's dot product by
  // the same lanes).
  Model jittered = bf16_model(c, true, 20000);
  for (Model* m : {&fused, &jittered}) {
    State again = m->new_state(1);
    m->forward(prompt, again);
    for (int step = 0; step < kSteps; ++step) {
      const std::vector<int32_t> next = {static_cast<int32_t>((step * 31 + 3) % 211)};
      EXPECT_EQ(m->forward(next, again), fused_logits[static_cast<size_t>(step)])
          << (m == &fused ? "again" : "with pauses") << ", step " << step;
    }
  }
}

// The cell's tile of C streamed through the weight ring (the default: boxes of a tensor map,
// narrower than 32 columns, partial at the head's edge, several per tile at 1024 rows) moves no
// sum: the logits of the steps and every block's C after them are bitwise those of the threads'
// own loads (XLSTM_PD_V1_C_STREAM=off), also with the blocks pausing at random.
TEST_P(CudaV1Decode, StreamedCIsBitwiseTheLoaded) {
  const ModelConfig c = config_of(GetParam());
  const MlstmV1Config& v1 = first_v1(c);
  XLSTM_SKIP_WITHOUT_CUDA();
  if (!cuda::v1_decode_supported(v1.embedding_dim, v1.inner_dim, v1.num_heads))
    GTEST_SKIP() << "this device cannot run the persistent v1 decode (sm_90 only)";
  const auto decode = [&](bool stream, uint32_t jitter_ns) {
    setenv("XLSTM_PD_V1_C_STREAM", stream ? "on" : "off", 1);
    Model m = bf16_model(c, true, jitter_ns);
    unsetenv("XLSTM_PD_V1_C_STREAM");
    State st = m.new_state(1);
    m.forward(std::vector<int32_t>{5, 17, 42, 8}, st);
    std::vector<float> out;
    for (int step = 0; step < 6; ++step) {
      const std::vector<float> logits =
          m.forward(std::vector<int32_t>{static_cast<int32_t>((step * 31 + 3) % 211)}, st);
      out.insert(out.end(), logits.begin(), logits.end());
    }
    const auto specs = c.block_specs();
    for (size_t i = 0; i < specs.size(); ++i) {
      if (specs[i].type != "mlstm_v1") continue;
      const std::vector<float> C = st.blocks()[i]["C"];
      out.insert(out.end(), C.begin(), C.end());
    }
    return out;
  };
  const std::vector<float> loaded = decode(false, 0);
  EXPECT_EQ(decode(true, 0), loaded);
  EXPECT_EQ(decode(true, 20000), loaded) << "with pauses";
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, CudaV1Decode,
    ::testing::Values(
        // One block: a run of one layer (the simplest case, for bisecting).
        Shape{64, 1, "1:0", 4, 32},
        // Heads of 32 columns: one tile each (I = 128, 4 heads).
        Shape{64, 4, "1:1", 4, 32},
        // 96-wide heads: three tiles, each 32 columns; runs between sLSTM blocks.
        Shape{192, 8, "7:1", 4, 96},
        // Heads of 20 columns: a tile narrower than 32; no biases.
        Shape{40, 2, "1:0", 4, 20, 8, false},
        // 48-wide heads: tiles of 32 and 16 columns (the norm's per-tile weights differ).
        Shape{96, 2, "1:0", 4, 48},
        // 16 heads of 16 columns: 32 gate rows (the most it takes).
        Shape{128, 2, "1:0", 16, 16},
        // One 1024-wide head: 32 tiles of one head, 1024 rows of C per tile.
        Shape{512, 2, "1:0", 1, 1024},
        // The 1.3B shape's heads (4 x 1024) on a shorter stack.
        Shape{2048, 2, "1:0", 4, 1024},
        // 50 blocks: a run of more blocks than one launch holds.
        Shape{64, 50, "1:0", 4, 32}),
    [](const ::testing::TestParamInfo<Shape>& i) {  // readable names (ctest lists them)
      const Shape& p = i.param;
      return "E" + std::to_string(p.E) + "_" + std::to_string(p.blocks) + "blocks_" +
             signature_name(p.signature) + "_" + std::to_string(p.mlstm_heads) + "x" +
             std::to_string(p.expect_head_dim) + (p.bias ? "" : "_nobias");
    });

// The kernel's run-time settings (experiments: the weight ring's depths and pool share, the
// cell's C prefetch and stores, C loaded instead of streamed) move no sum: the logits of a few
// steps are bitwise those of the build's settings. A 7:1 stack of 96-wide heads (runs between sLSTM
// blocks, three tiles a head).
TEST(CudaV1DecodeSettings, EverySettingDecodesTheSame) {
  const ModelConfig c = config_of({192, 8, "7:1", 4, 96});
  XLSTM_SKIP_WITHOUT_CUDA();
  const MlstmV1Config& v1 = first_v1(c);
  if (!cuda::v1_decode_supported(v1.embedding_dim, v1.inner_dim, v1.num_heads))
    GTEST_SKIP() << "this device cannot run the persistent v1 decode (sm_90 only)";
  const auto decode = [&](const char* name, const char* value) {
    if (name != nullptr) setenv(name, value, 1);
    Model m = bf16_model(c, true);
    if (name != nullptr) unsetenv(name);
    State st = m.new_state(1);
    m.forward(std::vector<int32_t>{5, 17, 42}, st);
    std::vector<float> logits;
    for (int32_t t : {7, 99, 3, 150}) {
      const std::vector<float> step = m.forward(std::vector<int32_t>{t}, st);
      logits.insert(logits.end(), step.begin(), step.end());
    }
    return logits;
  };
  const std::vector<float> built = decode(nullptr, nullptr);
  const std::pair<const char*, const char*> settings[] = {{"XLSTM_PD_INFLIGHT", "1"},
                                                          {"XLSTM_PD_INFLIGHT", "6"},
                                                          {"XLSTM_PD_PREFETCH", "0"},
                                                          {"XLSTM_PD_PREFETCH", "24"},
                                                          {"XLSTM_PD_POOL", "2"},
                                                          {"XLSTM_PD_POOL", "64"},
                                                          {"XLSTM_PD_V1_C_PREFETCH", "none"},
                                                          {"XLSTM_PD_V1_C_PREFETCH", "normal"},
                                                          {"XLSTM_PD_V1_C_EVICT", "on"},
                                                          {"XLSTM_PD_V1_C_STREAM", "off"},
                                                          {"XLSTM_PD_V1_PREFETCH", "on"}};
  for (const auto& [name, value] : settings)
    EXPECT_EQ(decode(name, value), built) << name << "=" << value;
}

// A bad setting is an error naming the variable when the model is made, not a silent default.
TEST(CudaV1DecodeSettings, BadSettingsAreNamed) {
  const ModelConfig c = config_of({64, 1, "1:0", 4, 32});
  XLSTM_SKIP_WITHOUT_CUDA();
  const std::pair<const char*, const char*> bad[] = {
      {"XLSTM_PD_INFLIGHT", "0"}, {"XLSTM_PD_INFLIGHT", "7"}, {"XLSTM_PD_PREFETCH", "-1"},
      {"XLSTM_PD_POOL", "1"},     {"XLSTM_PD_POOL", "four"},  {"XLSTM_PD_V1_C_PREFETCH", "first"}};
  for (const auto& [name, value] : bad) {
    setenv(name, value, 1);
    try {
      bf16_model(c, true);
      ADD_FAILURE() << name << "=" << value << " was taken";
    } catch (const InvalidInput& e) {
      EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
    }
    unsetenv(name);
  }
}

// Decode steps of a bf16 model (the few-row kernels: sLSTM's fused inputs, headwise gate GEMV and
// one-step recurrence; mLSTM v1's fused conv and step, or the persistent kernel) against the same
// model's prefill of the whole sequence (the GEMM, chunkwise and multi-step kernels), position by
// position: each step no further from the float32 CPU model than the prefill's logits of that
// position are. One and three sequences.
struct DecodeCase {
  int64_t E, blocks;
  const char* signature;
  int64_t batch;
  bool persistent;  // the mLSTM v1 runs in the persistent kernel (one sequence, sm_90)
};

class CudaBf16Decode : public ::testing::TestWithParam<DecodeCase> {};

TEST_P(CudaBf16Decode, StepsMatchThePrefill) {
  const DecodeCase p = GetParam();
  const ModelConfig c = config_of({p.E, p.blocks, p.signature, 4, 0});
  XLSTM_SKIP_WITHOUT_CUDA();
  const MlstmV1Config* v1 = nullptr;
  for (const BlockSpec& sp : c.block_specs())
    if (sp.type == "mlstm_v1") v1 = &static_cast<const MlstmV1Config&>(*sp.config);
  if (p.persistent && (v1 == nullptr ||
                       !cuda::v1_decode_supported(v1->embedding_dim, v1->inner_dim, v1->num_heads)))
    GTEST_SKIP() << "this device cannot run the persistent v1 decode (sm_90 only)";
  Model cpu = Model::random(c, 5), gpu = bf16_model(c, p.persistent);
  const int64_t B = p.batch, S = 12, P = 4;  // P prompt tokens, then S − P decode steps
  std::vector<int32_t> ids(static_cast<size_t>(B * S));
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>((i * 37 + 11) % 211);
  State whole = gpu.new_state(B), sc = cpu.new_state(B);
  const std::vector<float> prefill = gpu.forward(ids, whole), ref = cpu.forward(ids, sc);
  const int64_t V = c.vocab_size;
  // The prompt, then one token per sequence per step.
  State st = gpu.new_state(B);
  std::vector<int32_t> prompt;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < P; ++t) prompt.push_back(ids[static_cast<size_t>(b * S + t)]);
  gpu.forward(prompt, st);
  for (int64_t t = P; t < S; ++t) {
    std::vector<int32_t> next;
    for (int64_t b = 0; b < B; ++b) next.push_back(ids[static_cast<size_t>(b * S + t)]);
    const std::vector<float> step = gpu.forward(next, st);
    std::vector<float> a, r;  // position t of every sequence: prefill and CPU
    for (int64_t b = 0; b < B; ++b) {
      const auto at = static_cast<size_t>((b * S + t) * V);
      a.insert(a.end(), prefill.begin() + at, prefill.begin() + at + V);
      r.insert(r.end(), ref.begin() + at, ref.begin() + at + V);
    }
    // No further from the float32 model than the prefill is (which also rounds the chunkwise
    // cell's operands to bf16 on tensor cores, so the two may differ by about as much).
    EXPECT_LE(rel_l2(step, r), 1.25f * rel_l2(a, r) + 2e-3f) << "position " << t;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Stacks, CudaBf16Decode,
    ::testing::Values(DecodeCase{256, 2, "0:1", 1, false}, DecodeCase{256, 2, "0:1", 3, false},
                      // Five sequences and 20-wide sLSTM heads: the fallbacks (the dense GEMMs,
                      // the recurrence kernel).
                      DecodeCase{256, 2, "0:1", 5, false}, DecodeCase{80, 2, "0:1", 1, false},
                      DecodeCase{192, 8, "7:1", 1, false}, DecodeCase{192, 8, "7:1", 3, false},
                      DecodeCase{192, 8, "7:1", 1, true}, DecodeCase{64, 4, "1:1", 1, true}),
    [](const ::testing::TestParamInfo<DecodeCase>& i) {
      const DecodeCase& p = i.param;
      return "E" + std::to_string(p.E) + "_" + signature_name(p.signature) + "_B" +
             std::to_string(p.batch) + (p.persistent ? "_persistent" : "_kernels");
    });

}  // namespace
}  // namespace xlstm
