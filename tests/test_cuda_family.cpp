// The original family on the GPU (family_model.cpp, slstm.cu): every fixture stack of
// tests/fixtures/family against the CPU and the official package, in float32 (parity) and bf16
// weights; states crossing between the devices through a file; the fused sLSTM recurrence
// against the CPU cell on shapes whose slice does and does not fit on chip. Skips without a GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cuda_test_util.h"
#include "family_shapes.h"
#include "io/safetensors.h"
#include "test_util.h"
#include "xlstm/generator.h"
#include "xlstm/model.h"

namespace xlstm {
namespace {

namespace fs = std::filesystem;
using testing::rel_l2;

fs::path family(const std::string& name) {
  return testing::fixtures() / "family" / name;
}

std::vector<int32_t> ids_of(const TensorStore& ref, int64_t* B, int64_t* S) {
  const TensorInfo& t = *ref.find("ids");
  *B = t.shape[0];
  *S = t.shape[1];
  std::vector<int32_t> ids;
  for (int64_t v : read_i64(t)) ids.push_back(static_cast<int32_t>(v));
  return ids;
}

std::vector<float> tensor(const TensorStore& ref, const std::string& name) {
  const TensorInfo& t = *ref.find(name);
  return read_f32(t, t.shape);
}

class CudaFamily : public ::testing::TestWithParam<std::string> {};

TEST_P(CudaFamily, Float32MatchesTheReferenceAndTheCpu) {
  XLSTM_SKIP_WITHOUT_CUDA();
  const auto ref = TensorStore::open_file(family(GetParam()) / "reference.safetensors");
  int64_t B = 0, S = 0;
  const auto ids = ids_of(ref, &B, &S);
  const auto expected = tensor(ref, "logits_step");
  Model gpu = Model::load(family(GetParam()),
                          {.weight_type = LoadOptions::WeightDType::F32, .device = Device::Cuda});
  Model cpu = Model::load(family(GetParam()));
  State sc = cpu.new_state(B);
  const auto cpu_logits = cpu.forward(ids, sc);
  for (auto f : {Formulation::Chunkwise, Formulation::Step}) {
    State sg = gpu.new_state(B);
    RunOptions o;
    o.formulation = f;
    const auto logits = gpu.forward(ids, sg, o);
    EXPECT_LE(rel_l2(logits, expected), 1e-4f) << formulation_name(f);
    EXPECT_LE(rel_l2(logits, cpu_logits), 1e-4f) << formulation_name(f);
    for (size_t i = 0; i < sc.blocks().size(); ++i)
      for (const auto& t : sc.blocks()[i].tensors)
        EXPECT_LE(rel_l2(sg.blocks()[i][t.name], t.data), 1e-4f) << "block " << i << " " << t.name;
  }
  // Token by token (the decode path: S = 1 per call).
  State st = gpu.new_state(B);
  const int64_t V = gpu.config().vocab_size;
  std::vector<float> steps(expected.size());
  for (int64_t t = 0; t < S; ++t) {
    std::vector<int32_t> col;
    for (int64_t b = 0; b < B; ++b) col.push_back(ids[b * S + t]);
    const auto l = gpu.forward(col, st);
    for (int64_t b = 0; b < B; ++b)
      std::copy_n(l.begin() + b * V, V, steps.begin() + (b * S + t) * V);
  }
  EXPECT_LE(rel_l2(steps, expected), 1e-4f);
}

TEST_P(CudaFamily, Bf16StaysCloseToTheFloat32Reference) {
  XLSTM_SKIP_WITHOUT_CUDA();
  const auto ref = TensorStore::open_file(family(GetParam()) / "reference.safetensors");
  int64_t B = 0, S = 0;
  const auto ids = ids_of(ref, &B, &S);
  Model gpu = Model::load(family(GetParam()),
                          {.weight_type = LoadOptions::WeightDType::BF16, .device = Device::Cuda});
  State s = gpu.new_state(B);
  const float err = rel_l2(gpu.forward(ids, s), tensor(ref, "logits_f64"));
  // bf16 weights and GEMM operands (8 significant bits) through a few layers; measured per case
  // in the GPU log. The official bf16 autocast path measures 8-10% on xLSTM Large.
  EXPECT_LE(err, 0.1f);
  RecordProperty("bf16_rel_l2", std::to_string(err));
  std::cout << GetParam() << " bf16 rel-L2 vs float64: " << err << "\n";
}

TEST_P(CudaFamily, StateCrossesBetweenDevicesThroughAFile) {
  XLSTM_SKIP_WITHOUT_CUDA();
  const auto ref = TensorStore::open_file(family(GetParam()) / "reference.safetensors");
  int64_t B = 0, S = 0;
  const auto ids = ids_of(ref, &B, &S);
  const int64_t P = read_i64(*ref.find("prefix_len")).at(0);
  std::vector<int32_t> head, rest;
  for (int64_t b = 0; b < B; ++b) {
    head.insert(head.end(), ids.begin() + b * S, ids.begin() + b * S + P);
    rest.insert(rest.end(), ids.begin() + b * S + P, ids.begin() + (b + 1) * S);
  }
  Model gpu = Model::load(family(GetParam()),
                          {.weight_type = LoadOptions::WeightDType::F32, .device = Device::Cuda});
  Model cpu = Model::load(family(GetParam()));
  State sg = gpu.new_state(B);
  gpu.forward(head, sg);
  const fs::path file = fs::temp_directory_path() / ("xlstm_cuda_family_" + GetParam() + ".st");
  sg.save(file);
  State sc = State::load(file, cpu.config());
  fs::remove(file);
  EXPECT_LE(rel_l2(cpu.forward(rest, sc), tensor(ref, "logits_after_prefix")), 1e-4f);
  EXPECT_LE(rel_l2(gpu.forward(rest, sg), tensor(ref, "logits_after_prefix")), 1e-4f);
}

INSTANTIATE_TEST_SUITE_P(Family, CudaFamily,
                         ::testing::Values("m_only", "s_only", "m1s1", "m7s1",
                                           "s_only_cudalayout"));

// A random stack of the given sLSTM shape on both devices: the fused recurrence with its slice on
// chip (small heads) or read from L2 (heads too wide for shared memory in float32), several
// sequences, prefill then decode steps.
struct Shape {
  int64_t E, heads, blocks;
  const char* signature;
  int64_t batch = 3;
  int64_t mlstm_heads = 0;  // 0: the fixture's
};

class CudaFamilyShapes : public ::testing::TestWithParam<Shape> {};

TEST_P(CudaFamilyShapes, RandomStackMatchesTheCpu) {
  XLSTM_SKIP_WITHOUT_CUDA();
  const Shape p = GetParam();
  nlohmann::json j = testing::family_shape_json(p.E, p.blocks, p.signature, p.heads);
  if (p.mlstm_heads > 0) j["mlstm_block"]["mlstm"]["num_heads"] = p.mlstm_heads;
  const ModelConfig c = parse_config(j.dump(), "shape").config;
  // The family's random weights come from the same host generator on both devices.
  Model cpu = Model::random(c, 5), gpu = Model::random(c, 5, false, Device::Cuda);
  const int64_t B = p.batch, S = 41;
  std::vector<int32_t> ids;
  for (int64_t i = 0; i < B * S; ++i) ids.push_back(static_cast<int32_t>((i * 53 + 7) % 211));
  State sc = cpu.new_state(B), sg = gpu.new_state(B);
  EXPECT_LE(rel_l2(gpu.forward(ids, sg), cpu.forward(ids, sc)), 1e-4f);
  for (int step = 0; step < 3; ++step) {
    std::vector<int32_t> next(B, static_cast<int32_t>(step + 1));
    EXPECT_LE(rel_l2(gpu.forward(next, sg), cpu.forward(next, sc)), 1e-4f) << "step " << step;
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, CudaFamilyShapes,
                         ::testing::Values(Shape{64, 4, 2, "1:1"}, Shape{256, 2, 2, "0:1"},
                                           Shape{1024, 2, 2, "0:1"}, Shape{2048, 1, 1, "0:1"},
                                           Shape{192, 4, 8, "7:1"},
                                           // The all-sLSTM benchmark's heads (4 x 256), 8
                                           // sequences: 8 dot-product parts per column.
                                           Shape{1024, 4, 2, "0:1", 8},
                                           // One 1024-wide mLSTM head: the decode step splits
                                           // C's rows over 16 blocks (one and three sequences).
                                           Shape{512, 4, 1, "1:0", 1, 1},
                                           Shape{512, 4, 1, "1:0", 3, 1}));

}  // namespace
}  // namespace xlstm

namespace xlstm {
namespace {

// States made and dropped between decode steps: each new state's steps equal the CPU's (a decode
// graph must never replay against another state's memory), and graphs are replayed at all (a
// key mix-up once made every step eager: 20% slower decode, no test failed).
TEST(CudaFamilyGraphs, NewStatesBetweenStepsEqualTheCpu) {
  XLSTM_SKIP_WITHOUT_CUDA();
  const fs::path dir = fs::path(XLSTM_SOURCE_DIR) / "models" / "family-shakespeare";
  Model gpu =
      Model::load(dir, {.weight_type = LoadOptions::WeightDType::F32, .device = Device::Cuda});
  Model cpu = Model::load(dir);
  for (int round = 0; round < 4; ++round) {
    const int64_t B = 1 + round % 2;
    State sg = gpu.new_state(B), sc = cpu.new_state(B);
    std::vector<int32_t> prompt;
    for (int64_t i = 0; i < 5 * B; ++i) prompt.push_back(static_cast<int32_t>(7 * i + round));
    gpu.forward(prompt, sg);
    cpu.forward(prompt, sc);
    const int64_t replays = gpu.decode_graph_replays();
    for (int step = 0; step < 4; ++step) {
      const std::vector<int32_t> next(static_cast<size_t>(B), static_cast<int32_t>(3 + step));
      EXPECT_LE(rel_l2(gpu.forward(next, sg), cpu.forward(next, sc)), 1e-4f)
          << "round " << round << " step " << step;
    }
    // Of 4 steps: one eager (it may size the workspace: then one more), one captured, replays.
    EXPECT_GE(gpu.decode_graph_replays() - replays, 1) << "round " << round;
  }
  EXPECT_EQ(cpu.decode_graph_replays(), 0);
}

// The bundled mixed model greedily continues a prompt for 200 tokens identically on both devices
// (float32 parity mode).
TEST(CudaFamilyGenerate, BundledMixedModelGreedy200TokensEqualTheCpu) {
  XLSTM_SKIP_WITHOUT_CUDA();
  const fs::path dir = fs::path(XLSTM_SOURCE_DIR) / "models" / "family-shakespeare";
  Model gpu =
      Model::load(dir, {.weight_type = LoadOptions::WeightDType::F32, .device = Device::Cuda});
  Model cpu = Model::load(dir);
  const std::vector<int32_t> prompt = {10, 20, 30, 40, 50};
  GenerateOptions o;
  o.max_new_tokens = 200;
  o.stop_at_eos = false;
  EXPECT_EQ(generate(gpu, prompt, o).tokens, generate(cpu, prompt, o).tokens);
}

}  // namespace
}  // namespace xlstm
