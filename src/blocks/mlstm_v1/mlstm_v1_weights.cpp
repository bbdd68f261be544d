#include "blocks/mlstm_v1/mlstm_v1_weights.h"

#include <cmath>

#include "blocks/v1_common/v1_common.h"

namespace xlstm {

MlstmV1Weights load_mlstm_v1_weights(const BlockSite& s, WeightLoader& L) {
  const auto& c = config_of_mlstm_v1(s);
  const int64_t E = c.embedding_dim, I = c.inner_dim, NH = c.num_heads, bs = c.qkv_blocksize;
  const std::string p = s.prefix + "xlstm.";
  MlstmV1Weights w;
  w.norm = v1::take_norm_scale(L, s.prefix + "xlstm_norm.weight", E);
  w.up = L.take(p + "proj_up.weight", {2 * I, E});
  w.up_b = v1::take_optional(L, c.bias, p + "proj_up.bias", 2 * I);
  w.conv_w = L.take(p + "conv1d.conv.weight", {I, 1, c.conv_kernel});
  w.conv_b = L.take(p + "conv1d.conv.bias", {I});
  w.q_w = L.take(p + "q_proj.weight", {I / bs, bs, bs});
  w.k_w = L.take(p + "k_proj.weight", {I / bs, bs, bs});
  w.v_w = L.take(p + "v_proj.weight", {I / bs, bs, bs});
  w.q_b = v1::take_optional(L, c.bias, p + "q_proj.bias", I);
  w.k_b = v1::take_optional(L, c.bias, p + "k_proj.bias", I);
  w.v_b = v1::take_optional(L, c.bias, p + "v_proj.bias", I);
  std::vector<float> gates = L.take(p + "mlstm_cell.igate.weight", {NH, 3 * I});
  const std::vector<float> fgate = L.take(p + "mlstm_cell.fgate.weight", {NH, 3 * I});
  gates.insert(gates.end(), fgate.begin(), fgate.end());
  w.gates = std::move(gates);
  w.gates_b = L.take(p + "mlstm_cell.igate.bias", {NH});
  const std::vector<float> fb = L.take(p + "mlstm_cell.fgate.bias", {NH});
  w.gates_b.insert(w.gates_b.end(), fb.begin(), fb.end());
  w.outnorm = v1::take_norm_scale(L, p + "mlstm_cell.outnorm.weight", I);
  w.skip = L.take(p + "learnable_skip", {I});
  w.down = L.take(p + "proj_down.weight", {E, I});
  w.down_b = v1::take_optional(L, c.bias, p + "proj_down.bias", E);
  return w;
}

MlstmV1Weights random_mlstm_v1_weights(const BlockSite& s, uint64_t seed) {
  const auto& c = config_of_mlstm_v1(s);
  const int64_t E = c.embedding_dim, I = c.inner_dim, NH = c.num_heads, bs = c.qkv_blocksize;
  v1::RandomWeights r(seed);
  MlstmV1Weights w;
  w.up = r.normal(2 * I * E, 1.0f / std::sqrt(static_cast<float>(E)));
  w.conv_w = r.normal(I * c.conv_kernel, 0.5f);
  w.conv_b = r.normal(I, 0.1f);
  const float s_bs = 1.0f / std::sqrt(static_cast<float>(bs));
  w.q_w = r.normal(I * bs, s_bs);
  w.k_w = r.normal(I * bs, s_bs);
  w.v_w = r.normal(I * bs, s_bs);
  w.gates = r.normal(2 * NH * 3 * I, 0.1f / std::sqrt(static_cast<float>(3 * I)));
  w.gates_b = r.normal(NH, 1.0f);            // ĩ
  const auto fb = r.normal(NH, 1.0f, 4.0f);  // f̃: mostly remembering
  w.gates_b.insert(w.gates_b.end(), fb.begin(), fb.end());
  w.down = r.normal(E * I, 1.0f / std::sqrt(static_cast<float>(I)));
  // Norm scales, the skip and the biases away from their initial 1 and 0, so that tests see
  // every one of them applied at the right index (drawn last: the weights above keep their
  // values).
  w.norm = r.normal(E, 0.1f, 1.0f);
  w.outnorm = r.normal(I, 0.1f, 1.0f);
  w.skip = r.normal(I, 0.1f, 1.0f);
  if (c.bias) {
    w.up_b = r.normal(2 * I, 0.1f);
    w.q_b = r.normal(I, 0.1f);
    w.k_b = r.normal(I, 0.1f);
    w.v_b = r.normal(I, 0.1f);
    w.down_b = r.normal(E, 0.1f);
  }
  return w;
}

}  // namespace xlstm
