#include "xlstm/model.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "model/mlstm_large_block.h"
#include "model/weight_loader.h"
#include "model/workspace.h"
#include "ops/elementwise.h"
#include "ops/linear.h"
#include "ops/norms.h"
#include "xlstm/error.h"

namespace xlstm {

struct Model::Impl {
  ModelConfig config;
  Matrix embedding;  // [V, E]
  std::vector<MlstmLargeBlockWeights> blocks;
  std::vector<float> out_norm_w, out_norm_b;  // [E]
  Matrix lm_head;                             // [V, E]; empty when tied to the embedding
  Workspace ws;

  const Matrix& lm_head_weights() const { return lm_head.empty() ? embedding : lm_head; }
  void run_segment(const int32_t* ids, int64_t B, int64_t S, State& state, const RunOptions& o,
                   float* logits_out, bool all_logits);
};

namespace {
const float* data_or_null(const std::vector<float>& v) {
  return v.empty() ? nullptr : v.data();
}
}  // namespace

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::Model(Model&&) noexcept = default;
Model& Model::operator=(Model&&) noexcept = default;
Model::~Model() = default;

const ModelConfig& Model::config() const {
  return impl_->config;
}

size_t Model::weight_bytes() const {
  size_t total = impl_->embedding.bytes() + impl_->lm_head.bytes();
  for (const auto& b : impl_->blocks)
    total += b.w_in.bytes() + b.w_out.bytes() + b.w_up.bytes() + b.w_down.bytes();
  return total;
}

Model Model::load(const std::filesystem::path& dir, const LoadOptions& options) {
  auto loaded = load_config(dir / "config.json");
  if (options.warnings != nullptr) *options.warnings = loaded.warnings;
  auto impl = std::make_unique<Impl>();
  impl->config = loaded.config;
  const ModelConfig& c = impl->config;
  const int64_t E = c.embedding_dim, V = c.vocab_size;

  WeightLoader L(TensorStore::open_dir(dir));
  // HF names the embedding backbone.embeddings.weight; NX-AI's xLSTMLarge names it
  // embedding.weight.
  const std::string emb_name =
      L.has("embedding.weight") ? "embedding.weight" : "backbone.embeddings.weight";
  WeightType wt =
      options.weight_type == LoadOptions::WeightDType::BF16 ? WeightType::BF16 : WeightType::F32;
  if (options.weight_type == LoadOptions::WeightDType::Auto) {
    const TensorInfo* emb = L.find(emb_name);
    wt = emb != nullptr && emb->dtype == DType::BF16 ? WeightType::BF16 : WeightType::F32;
  }
  impl->embedding = Matrix::from_f32(V, E, L.take(emb_name, {V, E}), wt);
  impl->blocks.reserve(static_cast<size_t>(c.num_blocks));
  for (int64_t i = 0; i < c.num_blocks; ++i) {
    impl->blocks.push_back(
        load_mlstm_large_block(L, c, "backbone.blocks." + std::to_string(i) + ".", wt));
  }
  if (c.add_out_norm) {
    impl->out_norm_w = L.take("backbone.out_norm.weight", {E});
    if (c.use_bias) impl->out_norm_b = L.take("backbone.out_norm.bias", {E});
  }
  if (c.tie_word_embeddings) {
    if (L.has("lm_head.weight")) L.skip("lm_head.weight");  // some writers store the tied copy too
  } else {
    impl->lm_head = Matrix::from_f32(V, E, L.take("lm_head.weight", {V, E}), wt);
  }
  L.check_all_used();
  return Model(std::move(impl));
}

Model Model::random(const ModelConfig& c, uint64_t seed, bool bf16_weights) {
  const WeightType wt = bf16_weights ? WeightType::BF16 : WeightType::F32;
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
  auto impl = std::make_unique<Impl>();
  impl->config = c;
  impl->embedding = Matrix::from_f32(V, E, randn(V * E, 1.0f), wt);
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
    impl->blocks.push_back(std::move(w));
  }
  if (c.add_out_norm) impl->out_norm_w = ones(E);
  if (!c.tie_word_embeddings) impl->lm_head = Matrix::from_f32(V, E, randn(V * E, s_in), wt);
  return Model(std::move(impl));
}

void Model::Impl::run_segment(const int32_t* ids, int64_t B, int64_t S, State& state,
                              const RunOptions& o, float* logits_out, bool all_logits) {
  const ModelConfig& c = config;
  const int64_t E = c.embedding_dim, V = c.vocab_size, T = B * S;
  float* x = Workspace::sized(ws.x, T * E);
  for (int64_t t = 0; t < T; ++t) embedding.row_f32(ids[t], x + t * E);
  const int64_t chunk = o.chunk_size > 0 ? o.chunk_size : c.chunk_size;
  for (size_t i = 0; i < blocks.size(); ++i) {
    mlstm_large_block_forward(blocks[i], c, x, B, S, state.blocks()[i], o.formulation, chunk, ws);
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
  linear(rows, R, E, lm_head_weights(), nullptr, logits_out);
  soft_cap_columns(logits_out, R, V, 0, V, static_cast<float>(c.output_logit_soft_cap));
}

std::vector<float> Model::forward(std::span<const int32_t> ids, State& state, const RunOptions& o) {
  const ModelConfig& c = impl_->config;
  const int64_t B = state.batch(), V = c.vocab_size;
  if (B <= 0)
    throw InvalidInput(
        tagged("model", "state has batch size 0; create it with Model::new_state(B)"));
  if (state.blocks().size() != static_cast<size_t>(c.num_blocks) ||
      state.num_heads() != c.num_heads || state.qk_head_dim() != c.qk_head_dim() ||
      state.v_head_dim() != c.v_head_dim()) {
    throw InvalidInput(
        tagged("model", "state does not match this model's config (blocks, heads or head dims)"));
  }
  if (ids.size() % static_cast<size_t>(B) != 0) {
    throw InvalidInput(tagged(
        "model",
        std::to_string(ids.size()) + " token ids do not divide into batch " + std::to_string(B)));
  }
  const int64_t S = static_cast<int64_t>(ids.size()) / B;
  if (S == 0)
    throw InvalidInput(tagged("model", "empty input: at least one token per sequence is needed"));
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= V) {
      throw InvalidInput(tagged("model", "token id " + std::to_string(ids[i]) + " at position " +
                                             std::to_string(i) + " outside the vocabulary [0, " +
                                             std::to_string(V) + ")"));
    }
  }
  if (o.segment_len <= 0) throw InvalidInput(tagged("model", "segment_len must be positive"));

  std::vector<float> logits(static_cast<size_t>(o.all_logits ? B * S * V : B * V));
  std::vector<int32_t> seg_ids;
  for (int64_t s0 = 0; s0 < S; s0 += o.segment_len) {
    const int64_t Ss = std::min(o.segment_len, S - s0);
    const bool last = s0 + Ss == S;
    seg_ids.resize(static_cast<size_t>(B * Ss));
    for (int64_t b = 0; b < B; ++b)
      std::copy_n(ids.data() + b * S + s0, Ss, seg_ids.data() + b * Ss);
    if (o.all_logits) {
      float* seg_logits = Workspace::sized(impl_->ws.logits, B * Ss * V);
      impl_->run_segment(seg_ids.data(), B, Ss, state, o, seg_logits, true);
      for (int64_t b = 0; b < B; ++b) {
        std::copy_n(seg_logits + b * Ss * V, Ss * V, logits.data() + (b * S + s0) * V);
      }
    } else {
      float* seg_logits = Workspace::sized(impl_->ws.logits, B * V);
      impl_->run_segment(seg_ids.data(), B, Ss, state, o, seg_logits, false);
      if (last) std::copy_n(seg_logits, B * V, logits.data());
    }
  }
  return logits;
}

}  // namespace xlstm
