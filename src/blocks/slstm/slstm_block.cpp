// The "slstm" block type (spec §3.4):
//   x = x + GN(sLSTMCell(i, f ← headwise(SiLU(conv(LN x))), z, o ← headwise(LN x)))
//   x = x + FFN(LN x)      (gated: act(gate) ⊙ up, then down)
// The checkpoint's "fgate" module feeds the INPUT gate and "igate" the FORGET gate (a real swap in
// the official code, kept here by name).
#include <cmath>
#include <set>

#include "blocks/slstm/slstm_config.h"
#include "blocks/slstm/slstm_weights.h"
#include "blocks/v1_common/v1_common.h"
#include "model/block_registry.h"
#include "ops/causal_conv.h"
#include "ops/elementwise.h"
#include "ops/headwise.h"
#include "ops/linear.h"
#include "ops/norms.h"
#include "ops/slstm/slstm_cell.h"
#include "xlstm/error.h"

namespace xlstm {

namespace {

const float* or_null(const std::vector<float>& v) {
  return v.empty() ? nullptr : v.data();
}

class SlstmCpuBlock final : public CpuBlock {
 public:
  SlstmCpuBlock(const SlstmConfig& c, SlstmWeights w, WeightType wt)
      : c_(c),
        w_(std::move(w)),
        ffn_up_(Matrix::from_f32(2 * c.ffn_dim, c.embedding_dim, std::move(w_.ffn_up), wt)),
        ffn_down_(Matrix::from_f32(c.embedding_dim, c.ffn_dim, std::move(w_.ffn_down), wt)) {}

  size_t weight_bytes() const override {
    return ffn_up_.bytes() + ffn_down_.bytes() +
           4 * (w_.wi.size() * 4 + w_.R.size() + w_.conv_w.size());
  }

  void forward(float* x, int64_t B, int64_t S, BlockState& state, const RunOptions&,
               Workspace& ws) const override {
    const int64_t E = c_.embedding_dim, NH = c_.num_heads, DH = c_.head_dim(), T = B * S;
    const auto eps = static_cast<float>(v1::kNormEps);
    float* u = Workspace::sized(ws.u, T * E);
    multihead_layer_norm(x, T, 1, E, w_.norm.data(), nullptr, eps, u);
    const float* xc = u;  // the input and forget gates read the convolved input
    if (c_.conv_kernel > 0) {
      float* conv = Workspace::sized(ws.act, T * E);
      causal_conv1d(u, E, B, S, E, w_.conv_w.data(), w_.conv_b.data(), c_.conv_kernel,
                    state["conv"].data(), conv);
      silu_inplace(conv, T, E, E);
      xc = conv;
    }
    float* wx = Workspace::sized(ws.proj, T * 4 * E);  // [T, 4E]: i | f | z | o
    headwise_linear(xc, E, T, NH, DH, DH, w_.wi.data(), nullptr, wx, 4 * E);
    headwise_linear(xc, E, T, NH, DH, DH, w_.wf.data(), nullptr, wx + E, 4 * E);
    headwise_linear(u, E, T, NH, DH, DH, w_.wz.data(), nullptr, wx + 2 * E, 4 * E);
    headwise_linear(u, E, T, NH, DH, DH, w_.wo.data(), nullptr, wx + 3 * E, 4 * E);

    float* y = Workspace::sized(ws.h, T * E);
    float *sy = state["y"].data(), *sc = state["c"].data(), *sn = state["n"].data(),
          *sm = state["m"].data();
    if (S == 1 && B > 1) {  // a batch's decode step: R read once for every sequence
      float* scratch =
          Workspace::sized(ws.up, slstm_step_batch_floats(B, E));  // free until the FFN
      slstm_step_batch({B, E, NH, wx, w_.R.data(), w_.bias.data(), sy, sc, sn, sm, y, scratch});
    } else {
#pragma omp parallel for collapse(2) schedule(dynamic)
      for (int64_t b = 0; b < B; ++b) {
        for (int64_t h = 0; h < NH; ++h) {
          const int64_t o = b * E + h * DH;
          slstm_head_sequence({S, E, DH, h, wx + b * S * 4 * E, 4 * E,
                               w_.R.data() + h * 4 * DH * DH, w_.bias.data(), y + b * S * E, E},
                              {sy + o, sc + o, sn + o, sm + o});
        }
      }
    }
    float* yn = Workspace::sized(ws.hn, T * E);
    multihead_layer_norm(y, T, NH, DH, w_.group_norm.data(), nullptr, eps, yn);
    for (int64_t i = 0; i < T * E; ++i) x[i] += yn[i];

    if (!c_.has_ffn) return;
    const int64_t F = c_.ffn_dim;
    multihead_layer_norm(x, T, 1, E, w_.ffn_norm.data(), nullptr, eps, u);
    float* up = Workspace::sized(ws.up, T * 2 * F);
    linear(u, T, E, ffn_up_, or_null(w_.ffn_up_b), up);
    float* act = Workspace::sized(ws.act, T * F);
    gated_activation(up, T, F, c_.act, act);
    linear(act, T, F, ffn_down_, or_null(w_.ffn_down_b), yn);
    for (int64_t i = 0; i < T * E; ++i) x[i] += yn[i];
  }

 private:
  SlstmConfig c_;
  SlstmWeights w_;
  Matrix ffn_up_, ffn_down_;  // empty without a feed-forward
};

Activation parse_activation(const JsonSection& s) {
  const std::string name = s.string("act_fn", "gelu");
  if (name == "gelu") return Activation::Gelu;
  if (name == "relu") return Activation::Relu;
  if (name == "relu^2") return Activation::ReluSquared;
  if (name == "sigmoid") return Activation::Sigmoid;
  if (name == "swish") return Activation::Swish;
  if (name == "selu") return Activation::Selu;
  s.fail("act_fn", "= \"" + name + "\" is not one of gelu, relu, relu^2, sigmoid, swish, selu");
}

// The official sLSTMLayerConfig's fields (xlstm 2.0.6, as dataclasses.asdict writes them); those
// parse_config does not read are training-only (initialisation, the CUDA kernels' dtypes,
// clipping) or derived.
const std::set<std::string> kSlstmLayerFields = {"hidden_size",
                                                 "num_heads",
                                                 "num_states",
                                                 "backend",
                                                 "function",
                                                 "bias_init",
                                                 "recurrent_weight_init",
                                                 "_block_idx",
                                                 "_num_blocks",
                                                 "num_gates",
                                                 "gradient_recurrent_cut",
                                                 "gradient_recurrent_clipval",
                                                 "forward_clipval",
                                                 "batch_size",
                                                 "input_shape",
                                                 "internal_input_shape",
                                                 "output_shape",
                                                 "constants",
                                                 "dtype",
                                                 "dtype_b",
                                                 "dtype_r",
                                                 "dtype_w",
                                                 "dtype_g",
                                                 "dtype_s",
                                                 "dtype_a",
                                                 "enable_automatic_mixed_precision",
                                                 "initial_val",
                                                 "embedding_dim",
                                                 "conv1d_kernel_size",
                                                 "group_norm_weight",
                                                 "dropout"};

class SlstmType final : public BlockType {
 public:
  const char* name() const override { return "slstm"; }
  char letter() const override { return 's'; }
  std::vector<std::string> aliases() const override { return {"s"}; }
  const char* family_config_key() const override { return "slstm_block"; }

  std::shared_ptr<const BlockConfig> parse_config(
      const nlohmann::json& section, const ModelConfig& model, const std::string& where,
      std::vector<std::string>& warnings) const override {
    const JsonSection block(section, where);
    const JsonSection s = block.child("slstm");
    // Keys of the official sLSTMBlockConfig, sLSTMLayerConfig and FeedForwardConfig only.
    block.warn_unknown_keys({"slstm", "feedforward", "_num_blocks", "_block_idx"}, warnings);
    s.warn_unknown_keys(kSlstmLayerFields, warnings);
    auto c = std::make_shared<SlstmConfig>();
    c->embedding_dim = model.embedding_dim;
    c->num_heads = s.integer("num_heads", 4);
    c->conv_kernel = s.integer("conv1d_kernel_size", 4);
    c->group_norm_weight = s.boolean("group_norm_weight", true);
    if (c->num_heads <= 0 || c->embedding_dim % c->num_heads != 0) {
      s.fail("num_heads", "= " + std::to_string(c->num_heads) +
                              " must be positive and divide embedding_dim " +
                              std::to_string(c->embedding_dim));
    }
    if (c->conv_kernel < 0 || c->conv_kernel > 1024)
      s.fail("conv1d_kernel_size", "must be in [0, 1024] (0: no convolution)");
    const std::string backend = s.string("backend", "cuda");
    if (backend == "vanilla") {
      c->layout = SlstmConfig::Layout::Vanilla;
    } else if (backend == "cuda" || backend == "cuda_fused") {
      c->layout = SlstmConfig::Layout::Cuda;
    } else {
      s.fail("backend", "= \"" + backend + "\" is not one of vanilla, cuda, cuda_fused");
    }
    if (const std::string f = s.string("function", "slstm"); f != "slstm")
      s.fail("function", "= \"" + f + "\": only the \"slstm\" cell function is supported");
    if (s.integer("num_gates", 4) != 4) s.fail("num_gates", "must be 4");
    if (s.has("hidden_size") && s.integer("hidden_size", 0) != model.embedding_dim)
      s.fail("hidden_size", "must equal embedding_dim " + std::to_string(model.embedding_dim));
    c->has_ffn = block.has("feedforward");
    if (c->has_ffn) {
      const JsonSection f = block.child("feedforward");
      f.warn_unknown_keys(
          {"proj_factor", "round_proj_up_dim_up", "round_proj_up_to_multiple_of", "_proj_up_dim",
           "act_fn", "embedding_dim", "dropout", "bias", "ff_type", "_num_blocks"},
          warnings);
      c->ffn_dim = v1::proj_up_dim(f, model.embedding_dim, 1.3);
      c->act = parse_activation(f);
      c->ffn_bias = f.boolean("bias", false);
      if (const std::string t = f.string("ff_type", "ffn_gated"); t != "ffn_gated")
        f.fail("ff_type", "= \"" + t + "\": only \"ffn_gated\" is supported");
    }
    return c;
  }

  std::vector<StateTensorSpec> state(const BlockSite& s) const override {
    const auto& c = config_of_slstm(s);
    const int64_t E = c.embedding_dim;
    std::vector<StateTensorSpec> t;
    if (c.conv_kernel > 0) t.push_back({"conv", {c.conv_kernel, E}});
    for (const char* n : {"y", "c", "n", "m"}) t.push_back({n, {E}});
    return t;
  }

  int64_t parameter_count(const BlockSite& s) const override {
    const auto& c = config_of_slstm(s);
    const int64_t E = c.embedding_dim, DH = c.head_dim(), F = c.ffn_dim;
    int64_t n = E + (c.conv_kernel > 0 ? E * c.conv_kernel + E : 0) + 4 * E * DH + 4 * E * DH +
                4 * E + (c.group_norm_weight ? E : 0);
    if (c.has_ffn) n += E + 2 * F * E + E * F + (c.ffn_bias ? 2 * F + E : 0);
    return n;
  }

  std::string describe(const BlockSite& s) const override {
    const auto& c = config_of_slstm(s);
    return std::string("slstm: heads ") + std::to_string(c.num_heads) + " x " +
           std::to_string(c.head_dim()) + ", conv " + std::to_string(c.conv_kernel) +
           ", weights in the " + (c.layout == SlstmConfig::Layout::Vanilla ? "vanilla" : "cuda") +
           " layout, ffn " + (c.has_ffn ? std::to_string(c.ffn_dim) : std::string("none"));
  }

  std::unique_ptr<CpuBlock> load_cpu(const BlockSite& s, WeightLoader& L,
                                     WeightType wt) const override {
    return std::make_unique<SlstmCpuBlock>(config_of_slstm(s), load_slstm_weights(s, L), wt);
  }

  std::unique_ptr<CpuBlock> random_cpu(const BlockSite& s, uint64_t seed,
                                       WeightType wt) const override {
    return std::make_unique<SlstmCpuBlock>(config_of_slstm(s), random_slstm_weights(s, seed), wt);
  }
};

}  // namespace

const BlockType& slstm_block_type() {
  static const SlstmType type;
  return type;
}

}  // namespace xlstm
