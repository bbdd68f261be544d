// The CPU backend: float32 activations, weights in float32 or bf16 (OpenBLAS and own kernels).
#include <algorithm>
#include <array>
#include <cmath>
#include <random>

#include "model/backend.h"
#include "model/mlstm_large_block.h"
#include "model/weight_plan.h"
#include "model/workspace.h"
#include "ops/elementwise.h"
#include "ops/linear.h"
#include "ops/norms.h"

namespace xlstm {

namespace {

const float* data_or_null(const std::vector<float>& v) {
  return v.empty() ? nullptr : v.data();
}

class CpuModel final : public ModelBackend {
 public:
  explicit CpuModel(const ModelConfig& c) : config(c) {}

  ModelConfig config;
  Matrix embedding;  // [V, E]
  std::vector<MlstmLargeBlockWeights> blocks;
  std::vector<float> out_norm_w, out_norm_b;  // [E]
  Matrix lm_head;                             // [V, E]; empty when tied to the embedding
  Workspace ws;
  int64_t kept_rows = 0;  // rows of ws.logits from the last run_segment

  const Matrix& lm_head_weights() const { return lm_head.empty() ? embedding : lm_head; }

  size_t weight_bytes() const override {
    size_t total = embedding.bytes() + lm_head.bytes();
    for (const auto& b : blocks)
      total += b.w_in.bytes() + b.w_out.bytes() + b.w_up.bytes() + b.w_down.bytes();
    return total;
  }

  void run_segment(const int32_t* ids, int64_t B, int64_t S, State& state, const RunOptions& o,
                   bool all_logits) override {
    const ModelConfig& c = config;
    const int64_t E = c.embedding_dim, V = c.vocab_size, T = B * S;
    auto& state_blocks = state.blocks();
    float* x = Workspace::sized(ws.x, T * E);
    for (int64_t t = 0; t < T; ++t) embedding.row_f32(ids[t], x + t * E);
    const int64_t chunk = o.chunk_size > 0 ? o.chunk_size : c.chunk_size;
    for (size_t i = 0; i < blocks.size(); ++i) {
      mlstm_large_block_forward(blocks[i], c, x, B, S, state_blocks[i], o.formulation, chunk, ws);
    }
    // Rows whose logits are wanted: all, or the last of each sequence.
    const int64_t R = all_logits ? T : B;
    float* rows = Workspace::sized(ws.u, R * E);
    for (int64_t r = 0; r < R; ++r) {
      const int64_t t = all_logits ? r : r * S + (S - 1);
      std::copy_n(x + t * E, E, rows + r * E);
    }
    if (c.add_out_norm) {
      rms_norm(rows, R, E, out_norm_w.data(), data_or_null(out_norm_b),
               static_cast<float>(c.norm_eps), rows);
    }
    float* logits = Workspace::sized(ws.logits, R * V);
    linear(rows, R, E, lm_head_weights(), nullptr, logits);
    soft_cap_columns(logits, R, V, 0, V, static_cast<float>(c.output_logit_soft_cap));
    kept_rows = R;
  }

  void read_logits(float* dst) override {
    std::copy_n(ws.logits.data(), kept_rows * config.vocab_size, dst);
  }

  std::vector<int32_t> sample(const SamplingParams& p, std::span<const double> u,
                              std::span<const std::vector<int32_t>> history) override {
    const int64_t V = config.vocab_size;
    std::vector<int32_t> tokens(static_cast<size_t>(kept_rows));
    SamplerScratch scratch;
    for (int64_t b = 0; b < kept_rows; ++b) {
      std::span<const int32_t> h;
      if (!history.empty()) h = history[static_cast<size_t>(b)];
      tokens[b] =
          sample_token({ws.logits.data() + b * V, static_cast<size_t>(V)}, h, p, u[b], scratch);
    }
    return tokens;
  }
};

// Float32 staging of one block's (or the model level's) fields, converted at the end.
using FieldSet = std::array<std::vector<float>, kNumWeightFields>;

Matrix take_matrix(const ModelConfig& c, FieldSet& f, WeightField field, WeightType wt) {
  const FieldShape s = field_shape(c, field);
  if (s.numel() == 0) return {};
  return Matrix::from_f32(s.rows, s.cols, std::move(f[static_cast<int>(field)]), wt);
}

std::vector<float> take_vector(FieldSet& f, WeightField field) {
  return std::move(f[static_cast<int>(field)]);
}

MlstmLargeBlockWeights block_from_fields(const ModelConfig& c, FieldSet& f, WeightType wt) {
  using W = WeightField;
  MlstmLargeBlockWeights w;
  w.norm_mlstm_w = take_vector(f, W::NormMlstmW);
  w.norm_mlstm_b = take_vector(f, W::NormMlstmB);
  w.w_in = take_matrix(c, f, W::WIn, wt);
  w.b_in = take_vector(f, W::BIn);
  w.mh_norm_w = take_vector(f, W::MhNormW);
  w.mh_norm_b = take_vector(f, W::MhNormB);
  w.w_out = take_matrix(c, f, W::WOut, wt);
  w.b_out = take_vector(f, W::BOut);
  w.norm_ffn_w = take_vector(f, W::NormFfnW);
  w.norm_ffn_b = take_vector(f, W::NormFfnB);
  w.w_up = take_matrix(c, f, W::WUp, wt);
  w.b_up = take_vector(f, W::BUp);
  w.w_down = take_matrix(c, f, W::WDown, wt);
  w.b_down = take_vector(f, W::BDown);
  return w;
}

}  // namespace

std::unique_ptr<ModelBackend> load_cpu_backend(const ModelConfig& c, WeightLoader& L,
                                               WeightType wt) {
  auto m = std::make_unique<CpuModel>(c);
  const WeightPlan plan = plan_weights(c, L);
  FieldSet top, block;
  auto field = [&](FieldSet& set, WeightField f) -> float* {
    auto& v = set[static_cast<int>(f)];
    if (v.empty()) v.assign(static_cast<size_t>(field_shape(c, f).numel()), 0.0f);
    return v.data();
  };
  // Slots come block by block: convert each block as soon as it is complete (bounded staging).
  int current = -1;
  auto finish_block = [&] {
    if (current >= 0) m->blocks.push_back(block_from_fields(c, block, wt));
  };
  for (const WeightSlot& s : plan.slots) {
    if (s.block >= 0 && s.block != current) {
      finish_block();
      current = s.block;
      block = {};
      field(block, WeightField::BIn);  // zeros where the checkpoint has no bias
    }
    float* dst = s.block < 0 ? field(top, s.field) : field(block, s.field);
    L.take_into(s.name, s.shape, dst + s.offset);
  }
  finish_block();
  for (const auto& name : plan.skipped) L.skip(name);
  L.check_all_used();
  m->embedding = take_matrix(c, top, WeightField::Embedding, wt);
  m->lm_head = take_matrix(c, top, WeightField::LmHead, wt);
  m->out_norm_w = take_vector(top, WeightField::OutNormW);
  m->out_norm_b = take_vector(top, WeightField::OutNormB);
  return m;
}

std::unique_ptr<ModelBackend> random_cpu_backend(const ModelConfig& c, uint64_t seed,
                                                 WeightType wt) {
  const int64_t E = c.embedding_dim, V = c.vocab_size, NH = c.num_heads, qk = c.qk_dim(),
                v = c.v_dim(), F = c.ffn_dim();
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  auto randn = [&](int64_t n, float std) {
    std::vector<float> out(static_cast<size_t>(n));
    for (auto& x : out) x = normal(rng) * std;
    return out;
  };
  auto ones = [](int64_t n) { return std::vector<float>(static_cast<size_t>(n), 1.0f); };
  auto m = std::make_unique<CpuModel>(c);
  m->embedding = Matrix::from_f32(V, E, randn(V * E, 1.0f), wt);
  const float s_in = 1.0f / std::sqrt(static_cast<float>(E));
  for (int64_t i = 0; i < c.num_blocks; ++i) {
    MlstmLargeBlockWeights w;
    w.norm_mlstm_w = ones(E);
    w.w_in = Matrix::from_f32(2 * qk + 2 * v + 2 * NH, E,
                              randn((2 * qk + 2 * v + 2 * NH) * E, s_in), wt);
    w.b_in.assign(static_cast<size_t>(2 * qk + 2 * v + 2 * NH), 0.0f);
    for (int64_t h = 0; h < NH; ++h)
      w.b_in[static_cast<size_t>(2 * qk + 2 * v + NH + h)] = 3.0f;  // forget bias
    w.mh_norm_w = ones(v);
    w.w_out = Matrix::from_f32(E, v, randn(E * v, 1.0f / std::sqrt(static_cast<float>(v))), wt);
    w.norm_ffn_w = ones(E);
    w.w_up = Matrix::from_f32(2 * F, E, randn(2 * F * E, s_in), wt);
    w.w_down = Matrix::from_f32(E, F, randn(E * F, 1.0f / std::sqrt(static_cast<float>(F))), wt);
    m->blocks.push_back(std::move(w));
  }
  if (c.add_out_norm) m->out_norm_w = ones(E);
  if (!c.tie_word_embeddings) m->lm_head = Matrix::from_f32(V, E, randn(V * E, s_in), wt);
  return m;
}

}  // namespace xlstm
