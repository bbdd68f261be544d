#include "blocks/mlstm_large/weight_plan.h"

namespace xlstm {

FieldShape field_shape(const ModelConfig& c, WeightField f) {
  const int64_t E = c.embedding_dim, V = c.vocab_size, NH = c.num_heads, qk = c.qk_dim(),
                v = c.v_dim(), F = c.ffn_dim();
  const int64_t bias = c.use_bias ? 1 : 0;
  switch (f) {
    case WeightField::Embedding:
      return {V, E};
    case WeightField::OutNormW:
      return {c.add_out_norm ? 1 : 0, E};
    case WeightField::OutNormB:
      return {c.add_out_norm ? bias : 0, E};
    case WeightField::LmHead:
      return {c.tie_word_embeddings ? 0 : V, E};
    case WeightField::NormMlstmW:
      return {1, E};
    case WeightField::NormMlstmB:
      return {bias, E};
    case WeightField::WIn:
      return {2 * qk + 2 * v + 2 * NH, E};
    case WeightField::BIn:
      return {1, 2 * qk + 2 * v + 2 * NH};
    case WeightField::MhNormW:
      return {1, v};
    case WeightField::MhNormB:
      return {bias, v};
    case WeightField::WOut:
      return {E, v};
    case WeightField::BOut:
      return {bias, E};
    case WeightField::NormFfnW:
      return {1, E};
    case WeightField::NormFfnB:
      return {bias, E};
    case WeightField::WUp:
      return {2 * F, E};
    case WeightField::BUp:
      return {bias, 2 * F};
    case WeightField::WDown:
      return {E, F};
    case WeightField::BDown:
      return {bias, E};
  }
  return {};
}

bool is_matrix(WeightField f) {
  switch (f) {
    case WeightField::Embedding:
    case WeightField::LmHead:
    case WeightField::WIn:
    case WeightField::WOut:
    case WeightField::WUp:
    case WeightField::WDown:
      return true;
    default:
      return false;
  }
}

std::vector<WeightSlot> plan_block_weights(const ModelConfig& c, int i) {
  const int64_t E = c.embedding_dim, NH = c.num_heads, qk = c.qk_dim(), v = c.v_dim(),
                F = c.ffn_dim();
  const bool fused = c.weight_mode == "fused";
  std::vector<WeightSlot> slots;
  auto add = [&](std::string name, Shape shape, int block, WeightField f, int64_t offset = 0) {
    slots.push_back({std::move(name), std::move(shape), block, f, offset});
  };
  using W = WeightField;
  const std::string p = "backbone.blocks." + std::to_string(i) + ".";
  const std::string ml = p + "mlstm_layer.";
  const int64_t gates = 2 * qk + 2 * v;  // first row of ĩ | f̃ inside w_in
  if (fused) {
    add(ml + "qkv_opreact.weight", {gates, E}, i, W::WIn);
    if (c.use_bias) add(ml + "qkv_opreact.bias", {gates}, i, W::BIn);
    add(ml + "ifgate_preact.weight", {2 * NH, E}, i, W::WIn, gates * E);
    add(ml + "ifgate_preact.bias", {2 * NH}, i, W::BIn, gates);
  } else {
    const std::pair<const char*, int64_t> parts[] = {
        {"q", qk}, {"k", qk}, {"v", v}, {"ogate_preact", v}};
    int64_t row = 0;
    for (const auto& [name, n] : parts) {
      add(ml + name + ".weight", {n, E}, i, W::WIn, row * E);
      if (c.use_bias) add(ml + name + ".bias", {n}, i, W::BIn, row);
      row += n;
    }
    add(ml + "igate_preact.weight", {NH, E}, i, W::WIn, gates * E);
    add(ml + "fgate_preact.weight", {NH, E}, i, W::WIn, (gates + NH) * E);
    // Gate biases exist even without use_bias.
    add(ml + "igate_preact.bias", {NH}, i, W::BIn, gates);
    add(ml + "fgate_preact.bias", {NH}, i, W::BIn, gates + NH);
  }
  add(p + "norm_mlstm.weight", {E}, i, W::NormMlstmW);
  add(ml + "multihead_norm.weight", {v}, i, W::MhNormW);
  add(ml + "out_proj.weight", {E, v}, i, W::WOut);
  add(p + "norm_ffn.weight", {E}, i, W::NormFfnW);
  if (fused) {
    add(p + "ffn.proj_up_gate_z.weight", {2 * F, E}, i, W::WUp);
    if (c.use_bias) add(p + "ffn.proj_up_gate_z.bias", {2 * F}, i, W::BUp);
  } else {
    add(p + "ffn.proj_up_gate.weight", {F, E}, i, W::WUp);
    add(p + "ffn.proj_up.weight", {F, E}, i, W::WUp, F * E);
    if (c.use_bias) {
      add(p + "ffn.proj_up_gate.bias", {F}, i, W::BUp);
      add(p + "ffn.proj_up.bias", {F}, i, W::BUp, F);
    }
  }
  add(p + "ffn.proj_down.weight", {E, F}, i, W::WDown);
  if (c.use_bias) {
    add(p + "norm_mlstm.bias", {E}, i, W::NormMlstmB);
    add(ml + "multihead_norm.bias", {v}, i, W::MhNormB);
    add(ml + "out_proj.bias", {E}, i, W::BOut);
    add(p + "norm_ffn.bias", {E}, i, W::NormFfnB);
    add(p + "ffn.proj_down.bias", {E}, i, W::BDown);
  }
  return slots;
}

WeightPlan plan_weights(const ModelConfig& c, const WeightLoader& L) {
  const int64_t E = c.embedding_dim, V = c.vocab_size;
  WeightPlan plan;
  auto add = [&](std::string name, Shape shape, int block, WeightField f, int64_t offset = 0) {
    plan.slots.push_back({std::move(name), std::move(shape), block, f, offset});
  };
  using W = WeightField;
  add(L.has("embedding.weight") ? "embedding.weight" : "backbone.embeddings.weight", {V, E}, -1,
      W::Embedding);
  for (int i = 0; i < static_cast<int>(c.num_blocks); ++i) {
    auto block = plan_block_weights(c, i);
    plan.slots.insert(plan.slots.end(), block.begin(), block.end());
  }
  if (c.add_out_norm) {
    add("backbone.out_norm.weight", {E}, -1, W::OutNormW);
    if (c.use_bias) add("backbone.out_norm.bias", {E}, -1, W::OutNormB);
  }
  if (c.tie_word_embeddings) {
    if (L.has("lm_head.weight")) plan.skipped.push_back("lm_head.weight");  // a stored tied copy
  } else {
    add("lm_head.weight", {V, E}, -1, W::LmHead);
  }
  return plan;
}

}  // namespace xlstm
