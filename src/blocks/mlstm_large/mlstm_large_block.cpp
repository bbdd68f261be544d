#include "blocks/mlstm_large/mlstm_large_block.h"

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

void mlstm_large_block_forward(const MlstmLargeBlockWeights& w, const ModelConfig& c, float* x,
                               int64_t B, int64_t S, BlockState& state, Formulation formulation,
                               int64_t chunk, Workspace& ws) {
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

  float* C = state["C"].data();              // [B, NH, DHQK, DHV]
  float* n = state["n"].data();              // [B, NH, DHQK]
  float* m = state["m"].data();              // [B, NH]
  float* h = Workspace::sized(ws.h, T * v);  // [T, NH·DHV]
  mlstm_run_heads(formulation, proj, W, 2 * qk + 2 * v, B, S, NH, DHQK, DHV, h, {C, n, m},
                  static_cast<float>(c.eps), chunk);

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
