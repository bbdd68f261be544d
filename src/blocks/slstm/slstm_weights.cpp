#include "blocks/slstm/slstm_weights.h"

#include <cmath>

#include "blocks/v1_common/v1_common.h"
#include "xlstm/error.h"

namespace xlstm {

namespace {

// The recurrent kernel in the vanilla layout [NH, 4·DH, DH] (row g·DH + e, column d), whatever
// the checkpoint's layout; a tensor of the other layout's shape is named as such.
std::vector<float> take_recurrent(WeightLoader& L, const std::string& name, const SlstmConfig& c) {
  const int64_t NH = c.num_heads, DH = c.head_dim();
  const Shape vanilla{NH, 4 * DH, DH}, cuda{NH, DH, 4 * DH};
  const bool is_vanilla = c.layout == SlstmConfig::Layout::Vanilla;
  const TensorInfo* t = L.find(name);
  if (t != nullptr && t->shape == (is_vanilla ? cuda : vanilla) && DH != 0) {
    throw InvalidInput(tagged("weights", t->file + ": '" + name + "' has the shape of the " +
                                             (is_vanilla ? "cuda" : "vanilla") +
                                             " backend's layout " + shape_str(t->shape) +
                                             ", but the config's slstm backend is '" +
                                             (is_vanilla ? "vanilla" : "cuda") + "' (expects " +
                                             shape_str(is_vanilla ? vanilla : cuda) + ")"));
  }
  std::vector<float> r = L.take(name, is_vanilla ? vanilla : cuda);
  if (is_vanilla) return r;
  std::vector<float> out(r.size());  // cuda [h, d, g·DH + e] → vanilla [h, g·DH + e, d]
  for (int64_t h = 0; h < NH; ++h)
    for (int64_t d = 0; d < DH; ++d)
      for (int64_t j = 0; j < 4 * DH; ++j)
        out[(h * 4 * DH + j) * DH + d] = r[(h * DH + d) * 4 * DH + j];
  return out;
}

// The bias gate-major [4E] (index g·E + h·DH + e); the cuda layout stores it head-major
// (h·4·DH + g·DH + e), the same shape.
std::vector<float> take_bias(WeightLoader& L, const std::string& name, const SlstmConfig& c) {
  const int64_t E = c.embedding_dim, NH = c.num_heads, DH = c.head_dim();
  std::vector<float> b = L.take(name, {4 * E});
  if (c.layout == SlstmConfig::Layout::Vanilla) return b;
  std::vector<float> out(b.size());
  for (int64_t h = 0; h < NH; ++h)
    for (int64_t g = 0; g < 4; ++g)
      for (int64_t e = 0; e < DH; ++e) out[g * E + h * DH + e] = b[h * 4 * DH + g * DH + e];
  return out;
}

}  // namespace

SlstmWeights load_slstm_weights(const BlockSite& s, WeightLoader& L) {
  const auto& c = config_of_slstm(s);
  const int64_t E = c.embedding_dim, NH = c.num_heads, DH = c.head_dim(), F = c.ffn_dim;
  const std::string p = s.prefix + "xlstm.";
  SlstmWeights w;
  w.norm = v1::take_norm_scale(L, s.prefix + "xlstm_norm.weight", E);
  if (c.conv_kernel > 0) {
    w.conv_w = L.take(p + "conv1d.conv.weight", {E, 1, c.conv_kernel});
    w.conv_b = L.take(p + "conv1d.conv.bias", {E});
  }
  w.wi = L.take(p + "fgate.weight", {NH, DH, DH});  // sic: "fgate" is the input gate
  w.wf = L.take(p + "igate.weight", {NH, DH, DH});  // and "igate" the forget gate
  w.wz = L.take(p + "zgate.weight", {NH, DH, DH});
  w.wo = L.take(p + "ogate.weight", {NH, DH, DH});
  w.R = take_recurrent(L, p + "slstm_cell._recurrent_kernel_", c);
  w.bias = take_bias(L, p + "slstm_cell._bias_", c);
  w.group_norm = c.group_norm_weight ? v1::take_norm_scale(L, p + "group_norm.weight", E)
                                     : std::vector<float>(static_cast<size_t>(E), 1.0f);
  if (c.has_ffn) {
    w.ffn_norm = v1::take_norm_scale(L, s.prefix + "ffn_norm.weight", E);
    w.ffn_up = L.take(s.prefix + "ffn.proj_up.weight", {2 * F, E});
    w.ffn_up_b = v1::take_optional(L, c.ffn_bias, s.prefix + "ffn.proj_up.bias", 2 * F);
    w.ffn_down = L.take(s.prefix + "ffn.proj_down.weight", {E, F});
    w.ffn_down_b = v1::take_optional(L, c.ffn_bias, s.prefix + "ffn.proj_down.bias", E);
  }
  return w;
}

SlstmWeights random_slstm_weights(const BlockSite& s, uint64_t seed) {
  const auto& c = config_of_slstm(s);
  const int64_t E = c.embedding_dim, DH = c.head_dim(), F = c.ffn_dim;
  v1::RandomWeights r(seed);
  SlstmWeights w;
  if (c.conv_kernel > 0) {
    w.conv_w = r.normal(E * c.conv_kernel, 0.5f);
    w.conv_b = r.normal(E, 0.1f);
  }
  const float s_dh = 1.0f / std::sqrt(static_cast<float>(DH));
  for (auto* g : {&w.wi, &w.wf, &w.wz, &w.wo}) *g = r.normal(E * DH, s_dh);
  w.R = r.normal(4 * E * DH, 0.5f * s_dh);
  w.bias = r.normal(4 * E, 0.5f);
  for (int64_t e = 0; e < E; ++e) w.bias[static_cast<size_t>(E + e)] += 3.0f;  // forget
  if (c.has_ffn) {
    w.ffn_up = r.normal(2 * F * E, 1.0f / std::sqrt(static_cast<float>(E)));
    w.ffn_down = r.normal(E * F, 1.0f / std::sqrt(static_cast<float>(F)));
  }
  // Norm scales away from their initial 1, so that tests see each applied at the right index
  // (drawn last: the weights above keep their values).
  w.norm = r.normal(E, 0.1f, 1.0f);
  w.group_norm = r.normal(E, 0.1f, 1.0f);
  if (c.has_ffn) w.ffn_norm = r.normal(E, 0.1f, 1.0f);
  return w;
}

}  // namespace xlstm
