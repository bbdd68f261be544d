// The CPU backend: float32 activations, weights in float32 or bf16 (OpenBLAS and own kernels).
// Embedding → the config's blocks, each from the block registry → post norm → head.
#include <algorithm>
#include <cmath>
#include <random>

#include "model/backend.h"
#include "model/block_registry.h"
#include "model/normal_draws.h"
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
  std::vector<std::unique_ptr<CpuBlock>> blocks;
  // Post-blocks norm: RMSNorm (xLSTM Large) or LayerNorm (the original family; its 1 + w scale
  // is folded into out_norm_w at load). Empty when the config has none.
  std::vector<float> out_norm_w, out_norm_b;  // [E]
  Matrix lm_head;                             // [V, E]; empty when tied to the embedding
  Workspace ws;
  int64_t kept_rows = 0;  // rows of ws.logits from the last run_segment

  const Matrix& lm_head_weights() const { return lm_head.empty() ? embedding : lm_head; }

  size_t weight_bytes() const override {
    size_t total = embedding.bytes() + lm_head.bytes();
    for (const auto& b : blocks) total += b->weight_bytes();
    return total;
  }

  void run_segment(const int32_t* ids, int64_t B, int64_t S, State& state, const RunOptions& o,
                   bool all_logits) override {
    const ModelConfig& c = config;
    const int64_t E = c.embedding_dim, V = c.vocab_size, T = B * S;
    auto& state_blocks = state.blocks();
    float* x = Workspace::sized(ws.x, T * E);
    for (int64_t t = 0; t < T; ++t) embedding.row_f32(ids[t], x + t * E);
    for (size_t i = 0; i < blocks.size(); ++i) blocks[i]->forward(x, B, S, state_blocks[i], o, ws);
    // Rows whose logits are wanted: all, or the last of each sequence.
    const int64_t R = all_logits ? T : B;
    float* rows = Workspace::sized(ws.u, R * E);
    for (int64_t r = 0; r < R; ++r) {
      const int64_t t = all_logits ? r : r * S + (S - 1);
      std::copy_n(x + t * E, E, rows + r * E);
    }
    if (!out_norm_w.empty()) {
      const auto eps = static_cast<float>(c.norm_eps);
      if (c.family == Family::Large) {
        rms_norm(rows, R, E, out_norm_w.data(), data_or_null(out_norm_b), eps, rows);
      } else {
        multihead_layer_norm(rows, R, 1, E, out_norm_w.data(), data_or_null(out_norm_b), eps, rows);
      }
    }
    float* logits = Workspace::sized(ws.logits, R * V);
    linear(rows, R, E, lm_head_weights(), nullptr, logits);
    if (c.output_logit_soft_cap > 0)
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

// The model-level tensors' names in each family's checkpoints.
struct HeadNames {
  std::string embedding, out_norm_w, out_norm_b, lm_head;
};

HeadNames head_names(const ModelConfig& c, const WeightLoader& L) {
  if (c.family == Family::V1) {
    return {"token_embedding.weight", "xlstm_block_stack.post_blocks_norm.weight",
            "xlstm_block_stack.post_blocks_norm.bias", "lm_head.weight"};
  }
  return {L.has("embedding.weight") ? "embedding.weight" : "backbone.embeddings.weight",
          "backbone.out_norm.weight", "backbone.out_norm.bias", "lm_head.weight"};
}

// The original family's LayerNorms scale by 1 + w.
void fold_one_plus(const ModelConfig& c, std::vector<float>& w) {
  if (c.family == Family::V1)
    for (auto& x : w) x += 1.0f;
}

}  // namespace

std::unique_ptr<ModelBackend> load_cpu_backend(const ModelConfig& c, WeightLoader& L,
                                               WeightType wt) {
  auto m = std::make_unique<CpuModel>(c);
  const int64_t E = c.embedding_dim, V = c.vocab_size;
  const HeadNames names = head_names(c, L);
  m->embedding = Matrix::from_f32(V, E, L.take(names.embedding, {V, E}), wt);
  for (int i = 0; i < static_cast<int>(c.num_blocks); ++i) {
    const BlockSite site = block_site(c, i);
    m->blocks.push_back(block_type(site.spec.type).load_cpu(site, L, wt));
  }
  if (c.add_out_norm) {
    m->out_norm_w = L.take(names.out_norm_w, {E});
    fold_one_plus(c, m->out_norm_w);
    if (c.family == Family::Large && c.use_bias) m->out_norm_b = L.take(names.out_norm_b, {E});
  }
  if (c.tie_word_embeddings) {
    if (L.has(names.lm_head)) L.skip(names.lm_head);  // a stored tied copy
  } else {
    m->lm_head = Matrix::from_f32(V, E, L.take(names.lm_head, {V, E}), wt);
  }
  L.check_all_used();
  return m;
}

std::unique_ptr<ModelBackend> random_cpu_backend(const ModelConfig& c, uint64_t seed,
                                                 WeightType wt) {
  const int64_t E = c.embedding_dim, V = c.vocab_size;
  NormalDraws randn(seed);
  auto m = std::make_unique<CpuModel>(c);
  m->embedding = Matrix::from_f32(V, E, randn(V * E, 1.0f), wt);
  for (int i = 0; i < static_cast<int>(c.num_blocks); ++i) {
    const BlockSite site = block_site(c, i);
    m->blocks.push_back(block_type(site.spec.type).random_cpu(site, seed + 1000003 * (i + 1), wt));
  }
  if (c.add_out_norm) m->out_norm_w.assign(static_cast<size_t>(E), 1.0f);
  if (!c.tie_word_embeddings)
    m->lm_head = Matrix::from_f32(V, E, randn(V * E, 1.0f / std::sqrt(static_cast<float>(E))), wt);
  return m;
}

}  // namespace xlstm
