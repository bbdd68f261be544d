// The "mlstm_v1" block type (spec §3.3): x + mLSTMLayer(LayerNorm(x)), no feed-forward.
//   [x_m | z] = up(x);  c = SiLU(conv(x_m));  q, k = headwise(c);  v = headwise(x_m)
//   ĩ, f̃ = [q k v] W + b;  h = mLSTM(q, k, v, ĩ, f̃);  out = (GN(h) + skip ⊙ c) ⊙ SiLU(z)
// The cell is the xLSTM Large one (ops/mlstm); k carries the 1/√DH scale (q is pre-multiplied by
// √DH to cancel the cell's own scaling), so C and n are held as the official package holds them.
#include <cmath>

#include "blocks/mlstm_v1/mlstm_v1_weights.h"
#include "blocks/v1_common/v1_common.h"
#include "model/block_registry.h"
#include "ops/causal_conv.h"
#include "ops/elementwise.h"
#include "ops/headwise.h"
#include "ops/linear.h"
#include "ops/mlstm/mlstm_cell.h"
#include "ops/norms.h"

namespace xlstm {

namespace {

const float* or_null(const std::vector<float>& v) {
  return v.empty() ? nullptr : v.data();
}

class MlstmV1CpuBlock final : public CpuBlock {
 public:
  MlstmV1CpuBlock(const MlstmV1Config& c, MlstmV1Weights w, WeightType wt)
      : c_(c),
        w_(std::move(w)),
        up_(Matrix::from_f32(2 * c.inner_dim, c.embedding_dim, std::move(w_.up), wt)),
        down_(Matrix::from_f32(c.embedding_dim, c.inner_dim, std::move(w_.down), wt)) {}

  size_t weight_bytes() const override {
    return up_.bytes() + down_.bytes() +
           4 * (w_.gates.size() + w_.q_w.size() + w_.k_w.size() + w_.v_w.size() + w_.conv_w.size());
  }

  void forward(float* x, int64_t B, int64_t S, BlockState& state, const RunOptions& o,
               Workspace& ws) const override {
    const int64_t E = c_.embedding_dim, I = c_.inner_dim, NH = c_.num_heads, DH = c_.head_dim();
    const int64_t T = B * S, bs = c_.qkv_blocksize;
    const auto eps = static_cast<float>(v1::kNormEps);

    float* u = Workspace::sized(ws.u, T * E);
    multihead_layer_norm(x, T, 1, E, w_.norm.data(), nullptr, eps, u);
    float* up = Workspace::sized(ws.up, T * 2 * I);  // [T, 2I]: x_m | z
    linear(u, T, E, up_, or_null(w_.up_b), up);
    float* conv = Workspace::sized(ws.act, T * I);  // c = SiLU(conv(x_m)), [T, I]
    causal_conv1d(up, 2 * I, B, S, I, w_.conv_w.data(), w_.conv_b.data(), c_.conv_kernel,
                  state["conv"].data(), conv);
    silu_inplace(conv, T, I, I);
    float* qkv = Workspace::sized(ws.proj, T * (3 * I + 2 * NH));  // [T, 3I | 2NH]
    const int64_t W = 3 * I + 2 * NH;
    headwise_linear(conv, I, T, I / bs, bs, bs, w_.q_w.data(), or_null(w_.q_b), qkv, W);
    headwise_linear(conv, I, T, I / bs, bs, bs, w_.k_w.data(), or_null(w_.k_b), qkv + I, W);
    headwise_linear(up, 2 * I, T, I / bs, bs, bs, w_.v_w.data(), or_null(w_.v_b), qkv + 2 * I, W);
    float* gates = Workspace::sized(ws.y, T * 2 * NH);
    linear_f32_strided(qkv, W, T, 3 * I, w_.gates.data(), 2 * NH, w_.gates_b.data(), gates);
    const float root = std::sqrt(static_cast<float>(DH));
#pragma omp parallel for if (T * I > (1 << 15))
    for (int64_t t = 0; t < T; ++t) {
      float* r = qkv + t * W;
      for (int64_t j = 0; j < I; ++j) r[j] *= root;      // q · √DH
      for (int64_t j = I; j < 2 * I; ++j) r[j] /= root;  // k / √DH
      for (int64_t j = 0; j < 2 * NH; ++j) r[3 * I + j] = gates[t * 2 * NH + j];
    }

    float* h = Workspace::sized(ws.h, T * I);
    float* C = state["C"].data();
    float* n = state["n"].data();
    float* m = state["m"].data();
    const int64_t chunk = o.chunk_size > 0 ? o.chunk_size : 64;
    mlstm_run_heads(o.formulation, qkv, W, 3 * I, B, S, NH, DH, DH, h, {C, n, m}, 1e-6f, chunk);
    float* hn = Workspace::sized(ws.hn, T * I);
    multihead_layer_norm(h, T, NH, DH, w_.outnorm.data(), nullptr, eps, hn);
#pragma omp parallel for if (T * I > (1 << 15))
    for (int64_t t = 0; t < T; ++t) {
      const float* z = up + t * 2 * I + I;
      for (int64_t j = 0; j < I; ++j) {
        const float zj = z[j];
        hn[t * I + j] = (hn[t * I + j] + w_.skip[j] * conv[t * I + j]) * zj * sigmoid(zj);
      }
    }
    float* y = Workspace::sized(ws.y, T * E);
    linear(hn, T, I, down_, or_null(w_.down_b), y);
    for (int64_t i = 0; i < T * E; ++i) x[i] += y[i];
  }

 private:
  MlstmV1Config c_;
  MlstmV1Weights w_;
  Matrix up_, down_;
};

class MlstmV1Type final : public BlockType {
 public:
  const char* name() const override { return "mlstm_v1"; }
  char letter() const override { return 'm'; }
  std::vector<std::string> aliases() const override { return {"mlstm", "m"}; }
  const char* family_config_key() const override { return "mlstm_block"; }

  std::shared_ptr<const BlockConfig> parse_config(
      const nlohmann::json& section, const ModelConfig& model, const std::string& where,
      std::vector<std::string>& warnings) const override {
    const JsonSection block(section, where);
    const JsonSection s = block.child("mlstm");
    // The official mLSTMBlockConfig's and mLSTMLayerConfig's fields (xlstm 2.0.6, as
    // dataclasses.asdict writes them); the ones not read here are training-only or derived.
    block.warn_unknown_keys({"mlstm", "_num_blocks", "_block_idx"}, warnings);
    s.warn_unknown_keys(
        {"proj_factor", "round_proj_up_dim_up", "round_proj_up_to_multiple_of", "_proj_up_dim",
         "conv1d_kernel_size", "qkv_proj_blocksize", "num_heads", "embedding_dim", "bias",
         "dropout", "context_length", "_num_blocks", "_inner_embedding_dim"},
        warnings);
    auto c = std::make_shared<MlstmV1Config>();
    c->embedding_dim = model.embedding_dim;
    c->bias = model.use_bias;
    c->inner_dim = v1::proj_up_dim(s, model.embedding_dim, 2.0);
    c->num_heads = s.integer("num_heads", 4);
    c->conv_kernel = s.integer("conv1d_kernel_size", 4);
    c->qkv_blocksize = s.integer("qkv_proj_blocksize", 4);
    if (c->num_heads <= 0 || c->inner_dim % c->num_heads != 0) {
      s.fail("num_heads", "= " + std::to_string(c->num_heads) +
                              " must be positive and divide the inner dim " +
                              std::to_string(c->inner_dim));
    }
    if (c->qkv_blocksize <= 0 || c->inner_dim % c->qkv_blocksize != 0) {
      s.fail("qkv_proj_blocksize", "= " + std::to_string(c->qkv_blocksize) +
                                       " must be positive and divide the inner dim " +
                                       std::to_string(c->inner_dim));
    }
    if (c->conv_kernel < 1 || c->conv_kernel > 1024)
      s.fail("conv1d_kernel_size", "must be in [1, 1024] for an mLSTM block");
    return c;
  }

  std::vector<StateTensorSpec> state(const BlockSite& s) const override {
    const auto& c = config_of_mlstm_v1(s);
    const int64_t NH = c.num_heads, DH = c.head_dim();
    return {
        {"conv", {c.conv_kernel, c.inner_dim}}, {"C", {NH, DH, DH}}, {"n", {NH, DH}}, {"m", {NH}}};
  }

  int64_t parameter_count(const BlockSite& s) const override {
    const auto& c = config_of_mlstm_v1(s);
    const int64_t E = c.embedding_dim, I = c.inner_dim, NH = c.num_heads, b = c.bias ? 1 : 0;
    return E + 2 * I * E + b * 2 * I + I * c.conv_kernel + I + 3 * (I * c.qkv_blocksize) +
           b * 3 * I + 2 * (NH * 3 * I + NH) + I + I + E * I + b * E;
  }

  std::string describe(const BlockSite& s) const override {
    const auto& c = config_of_mlstm_v1(s);
    return "mlstm_v1: inner " + std::to_string(c.inner_dim) + ", heads " +
           std::to_string(c.num_heads) + " x " + std::to_string(c.head_dim()) + ", conv " +
           std::to_string(c.conv_kernel) + ", qkv blocks " + std::to_string(c.qkv_blocksize);
  }

  std::unique_ptr<CpuBlock> load_cpu(const BlockSite& s, WeightLoader& L,
                                     WeightType wt) const override {
    return std::make_unique<MlstmV1CpuBlock>(config_of_mlstm_v1(s), load_mlstm_v1_weights(s, L),
                                             wt);
  }

  std::unique_ptr<CpuBlock> random_cpu(const BlockSite& s, uint64_t seed,
                                       WeightType wt) const override {
    return std::make_unique<MlstmV1CpuBlock>(config_of_mlstm_v1(s),
                                             random_mlstm_v1_weights(s, seed), wt);
  }
};

}  // namespace

const BlockType& mlstm_v1_block_type() {
  static const MlstmV1Type type;
  return type;
}

}  // namespace xlstm
