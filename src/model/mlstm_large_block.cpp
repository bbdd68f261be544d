#include "model/mlstm_large_block.h"

#include <algorithm>

#include "ops/elementwise.h"
#include "ops/linear.h"
#include "ops/mlstm/mlstm_cell.h"
#include "ops/norms.h"

namespace xlstm {

namespace {
const float* data_or_null(const std::vector<float>& v) {
  return v.empty() ? nullptr : v.data();
}
}  // namespace

MlstmLargeBlockWeights load_mlstm_large_block(WeightLoader& L, const ModelConfig& c,
                                              const std::string& p, WeightType wt) {
  const int64_t E = c.embedding_dim, NH = c.num_heads, qk = c.qk_dim(), v = c.v_dim(),
                F = c.ffn_dim();
  const bool fused = c.weight_mode == "fused";
  const std::string ml = p + "mlstm_layer.";
  MlstmLargeBlockWeights w;
  const int64_t rows_in = 2 * qk + 2 * v + 2 * NH;
  std::vector<float> w_in(static_cast<size_t>(rows_in * E));
  w.b_in.assign(static_cast<size_t>(rows_in), 0.0f);
  float* gates_w = w_in.data() + (2 * qk + 2 * v) * E;
  float* gates_b = w.b_in.data() + 2 * qk + 2 * v;
  if (fused) {
    L.take_into(ml + "qkv_opreact.weight", {2 * qk + 2 * v, E}, w_in.data());
    if (c.use_bias) L.take_into(ml + "qkv_opreact.bias", {2 * qk + 2 * v}, w.b_in.data());
    L.take_into(ml + "ifgate_preact.weight", {2 * NH, E}, gates_w);
    L.take_into(ml + "ifgate_preact.bias", {2 * NH}, gates_b);
  } else {
    const std::pair<const char*, int64_t> parts[] = {
        {"q", qk}, {"k", qk}, {"v", v}, {"ogate_preact", v}};
    int64_t row = 0;
    for (const auto& [name, n] : parts) {
      L.take_into(ml + name + ".weight", {n, E}, w_in.data() + row * E);
      if (c.use_bias) L.take_into(ml + name + ".bias", {n}, w.b_in.data() + row);
      row += n;
    }
    L.take_into(ml + "igate_preact.weight", {NH, E}, gates_w);
    L.take_into(ml + "fgate_preact.weight", {NH, E}, gates_w + NH * E);
    L.take_into(ml + "igate_preact.bias", {NH},
                gates_b);  // gate biases exist even without use_bias
    L.take_into(ml + "fgate_preact.bias", {NH}, gates_b + NH);
  }
  w.w_in = Matrix::from_f32(rows_in, E, std::move(w_in), wt);
  auto optional_bias = [&](const std::string& name, int64_t n) {
    return c.use_bias ? L.take(name, {n}) : std::vector<float>{};
  };
  w.norm_mlstm_w = L.take(p + "norm_mlstm.weight", {E});
  w.norm_mlstm_b = optional_bias(p + "norm_mlstm.bias", E);
  w.mh_norm_w = L.take(ml + "multihead_norm.weight", {v});
  w.mh_norm_b = optional_bias(ml + "multihead_norm.bias", v);
  w.w_out = Matrix::from_f32(E, v, L.take(ml + "out_proj.weight", {E, v}), wt);
  w.b_out = optional_bias(ml + "out_proj.bias", E);
  w.norm_ffn_w = L.take(p + "norm_ffn.weight", {E});
  w.norm_ffn_b = optional_bias(p + "norm_ffn.bias", E);
  std::vector<float> w_up(static_cast<size_t>(2 * F * E));
  if (fused) {
    L.take_into(p + "ffn.proj_up_gate_z.weight", {2 * F, E}, w_up.data());
    w.b_up = optional_bias(p + "ffn.proj_up_gate_z.bias", 2 * F);
  } else {
    L.take_into(p + "ffn.proj_up_gate.weight", {F, E}, w_up.data());
    L.take_into(p + "ffn.proj_up.weight", {F, E}, w_up.data() + F * E);
    if (c.use_bias) {
      w.b_up.resize(static_cast<size_t>(2 * F));
      L.take_into(p + "ffn.proj_up_gate.bias", {F}, w.b_up.data());
      L.take_into(p + "ffn.proj_up.bias", {F}, w.b_up.data() + F);
    }
  }
  w.w_up = Matrix::from_f32(2 * F, E, std::move(w_up), wt);
  w.w_down = Matrix::from_f32(E, F, L.take(p + "ffn.proj_down.weight", {E, F}), wt);
  w.b_down = optional_bias(p + "ffn.proj_down.bias", E);
  return w;
}

void mlstm_large_block_forward(const MlstmLargeBlockWeights& w, const ModelConfig& c, float* x,
                               int64_t B, int64_t S, MlstmBlockState& state,
                               Formulation formulation, int64_t chunk, Workspace& ws) {
  const int64_t E = c.embedding_dim, NH = c.num_heads, qk = c.qk_dim(), v = c.v_dim(),
                F = c.ffn_dim();
  const int64_t DHQK = c.qk_head_dim(), DHV = c.v_head_dim();
  const int64_t T = B * S, W = 2 * qk + 2 * v + 2 * NH;
  const auto eps = static_cast<float>(c.norm_eps);

  float* u = Workspace::sized(ws.u, T * E);
  rms_norm(x, T, E, w.norm_mlstm_w.data(), data_or_null(w.norm_mlstm_b), eps, u);
  float* proj = Workspace::sized(ws.proj, T * W);  // [T, W]: q | k | v | o | ĩ | f̃
  linear(u, T, E, w.w_in, w.b_in.data(), proj);
  soft_cap_columns(proj, T, W, 2 * qk + 2 * v, 2 * NH, static_cast<float>(c.gate_soft_cap));

  float* h = Workspace::sized(ws.h, T * v);  // [T, NH·DHV]
  const auto cell_eps = static_cast<float>(c.eps);
#pragma omp parallel for collapse(2) schedule(dynamic)
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t hd = 0; hd < NH; ++hd) {
      const float* rows = proj + b * S * W;
      CellSequence seq{S,
                       DHQK,
                       DHV,
                       {rows + hd * DHQK, W},
                       {rows + qk + hd * DHQK, W},
                       {rows + 2 * qk + hd * DHV, W},
                       {rows + 2 * qk + 2 * v + hd, W},
                       {rows + 2 * qk + 2 * v + NH + hd, W},
                       h + b * S * v + hd * DHV,
                       v};
      const int64_t bh = b * NH + hd;
      CellState st{state.C.data() + bh * DHQK * DHV, state.n.data() + bh * DHQK,
                   state.m.data() + bh};
      mlstm_run(formulation, seq, st, cell_eps, chunk);
    }
  }

  float* hn = Workspace::sized(ws.hn, T * v);
  multihead_layer_norm(h, T, NH, DHV, w.mh_norm_w.data(), data_or_null(w.mh_norm_b), eps, hn);
  apply_output_gate(hn, T, v, proj + 2 * qk + v, W);  // σ(o) after the per-head norm
  float* y = Workspace::sized(ws.y, T * E);
  linear(hn, T, v, w.w_out, data_or_null(w.b_out), y);
  for (int64_t i = 0; i < T * E; ++i) x[i] += y[i];

  rms_norm(x, T, E, w.norm_ffn_w.data(), data_or_null(w.norm_ffn_b), eps, u);
  float* up = Workspace::sized(ws.up, T * 2 * F);
  linear(u, T, E, w.w_up, data_or_null(w.b_up), up);
  float* act = Workspace::sized(ws.act, T * F);
  swiglu(up, T, F, act);
  linear(act, T, F, w.w_down, data_or_null(w.b_down), y);
  for (int64_t i = 0; i < T * E; ++i) x[i] += y[i];
}

}  // namespace xlstm
