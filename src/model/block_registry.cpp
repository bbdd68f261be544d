#include "model/block_registry.h"

#include <algorithm>
#include <array>

#include "xlstm/error.h"

namespace xlstm {

#define XLSTM_BLOCK(t) const BlockType& t##_block_type();
#include "blocks/registered.def"
#undef XLSTM_BLOCK

std::shared_ptr<const BlockConfig> BlockType::parse_config(const nlohmann::json&,
                                                           const ModelConfig&,
                                                           const std::string&) const {
  return nullptr;
}

std::span<const BlockType* const> block_types() {
#define XLSTM_BLOCK(t) &t##_block_type(),
  static const std::array all = {
#include "blocks/registered.def"
  };
#undef XLSTM_BLOCK
  return all;
}

const BlockType& block_type(const std::string& name) {
  std::string known;
  for (const BlockType* t : block_types()) {
    if (name == t->name()) return *t;
    for (const auto& alias : t->aliases())
      if (name == alias) return *t;
    known += std::string(known.empty() ? "" : ", ") + t->name();
  }
  throw InvalidInput(tagged("config", "unknown block type '" + name + "'; known: " + known));
}

std::string block_prefix(const ModelConfig& c, int i) {
  return (c.family == Family::Large ? "backbone.blocks." : "xlstm_block_stack.blocks.") +
         std::to_string(i) + ".";
}

BlockSite block_site(const ModelConfig& c, int i) {
  if (c.family == Family::Large) return {c, i, {"mlstm_large", nullptr}, block_prefix(c, i)};
  return {c, i, c.blocks.at(static_cast<size_t>(i)), block_prefix(c, i)};
}

std::vector<BlockSpec> ModelConfig::block_specs() const {
  if (family == Family::V1) return blocks;
  return std::vector<BlockSpec>(static_cast<size_t>(std::max<int64_t>(num_blocks, 0)),
                                BlockSpec{"mlstm_large", nullptr});
}

std::string ModelConfig::layout() const {
  std::string out;
  for (const auto& b : block_specs())
    out += std::string(out.empty() ? "" : " ") + block_type(b.type).letter();
  return out;
}

int64_t ModelConfig::parameter_count() const {
  const int64_t E = embedding_dim, V = vocab_size;
  int64_t total = V * E;
  for (int i = 0; i < static_cast<int>(num_blocks); ++i) {
    const BlockSite site = block_site(*this, i);
    total += block_type(site.spec.type).parameter_count(site);
  }
  if (add_out_norm) total += E + (family == Family::Large && use_bias ? E : 0);
  if (!tie_word_embeddings) total += V * E;
  return total;
}

int64_t ModelConfig::state_floats_per_sequence() const {
  int64_t n = 0;
  for (const auto& b : state_layout(*this)) {
    for (const auto& t : b.tensors) {
      int64_t k = 1;
      for (int64_t d : t.shape) k *= d;
      n += k;
    }
  }
  return n;
}

void check_model_size(const ModelConfig& c, const std::string& where) {
  constexpr int64_t kMax = int64_t{1} << 48;
  int64_t params = 0, state = 0;
  bool over = false;
  const auto add = [&](int64_t& total, int64_t n) {
    over = over || __builtin_add_overflow(total, n, &total) || total > kMax;
  };
  for (int i = 0; i < static_cast<int>(c.num_blocks) && !over; ++i) {
    const BlockSite site = block_site(c, i);
    const BlockType& type = block_type(site.spec.type);
    add(params, type.parameter_count(site));
    for (const auto& t : type.state(site)) {
      int64_t n = 1;
      for (const int64_t d : t.shape) over = over || __builtin_mul_overflow(n, d, &n);
      add(state, n);
    }
  }
  if (over) {
    throw InvalidInput(tagged(
        "config", where + ": 'num_blocks' = " + std::to_string(c.num_blocks) +
                      " blocks of these sizes hold more than 2^48 parameters or state floats per "
                      "sequence; check num_blocks and the dims and factors of the blocks"));
  }
}

StateLayout state_layout(const ModelConfig& c) {
  StateLayout layout;
  for (int i = 0; i < static_cast<int>(c.num_blocks); ++i) {
    const BlockSite site = block_site(c, i);
    layout.push_back({site.spec.type, block_type(site.spec.type).state(site)});
  }
  return layout;
}

}  // namespace xlstm
