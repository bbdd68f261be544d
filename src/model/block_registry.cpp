#include "model/block_registry.h"

#include <algorithm>
#include <array>
#include <map>
#include <string>
#include <utility>

#include "xlstm/error.h"

namespace xlstm {

#define XLSTM_BLOCK(t) const BlockType& t##_block_type();
#include "blocks/registered.def"
#undef XLSTM_BLOCK

std::shared_ptr<const BlockConfig> BlockType::parse_config(const nlohmann::json&,
                                                           const ModelConfig&, const std::string&,
                                                           std::vector<std::string>&) const {
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

namespace {

// What a block's type derives from its spec: parameters and state floats per sequence (overflow:
// a state tensor's element count does not fit in int64).
struct BlockSizes {
  int64_t params = 0, state_floats = 0;
  bool overflow = false;
};

BlockSizes sizes_of(const BlockSite& site) {
  const BlockType& type = block_type(site.spec.type);
  BlockSizes out;
  out.params = type.parameter_count(site);
  for (const auto& t : type.state(site)) {
    int64_t n = 1;
    for (const int64_t d : t.shape) out.overflow = out.overflow || __builtin_mul_overflow(n, d, &n);
    out.overflow = out.overflow || __builtin_add_overflow(out.state_floats, n, &out.state_floats);
  }
  return out;
}

// Calls f(sizes) for every block in order until f returns false. Sizes do not depend on the
// position, so blocks that share a spec (type and config object, as a parsed stack's copies of
// one mlstm_block do) are derived once: a 65,536-block stack costs what a few blocks do.
template <typename F>
void for_each_block_sizes(const ModelConfig& c, F&& f) {
  std::map<std::pair<std::string, const BlockConfig*>, BlockSizes> derived;
  const BlockSpec large{"mlstm_large", nullptr};
  for (int i = 0; i < static_cast<int>(c.num_blocks); ++i) {
    const BlockSpec& spec = c.family == Family::Large ? large : c.blocks.at(static_cast<size_t>(i));
    const auto key = std::make_pair(spec.type, spec.config.get());
    auto it = derived.find(key);
    if (it == derived.end()) it = derived.emplace(key, sizes_of(block_site(c, i))).first;
    if (!f(it->second)) return;
  }
}

}  // namespace

int64_t ModelConfig::parameter_count() const {
  const int64_t E = embedding_dim, V = vocab_size;
  int64_t total = V * E;
  for_each_block_sizes(*this, [&](const BlockSizes& b) {
    total += b.params;
    return true;
  });
  if (add_out_norm) total += E + (family == Family::Large && use_bias ? E : 0);
  if (!tie_word_embeddings) total += V * E;
  return total;
}

int64_t ModelConfig::state_floats_per_sequence() const {
  int64_t n = 0;
  for_each_block_sizes(*this, [&](const BlockSizes& b) {
    n += b.state_floats;
    return true;
  });
  return n;
}

void check_model_size(const ModelConfig& c, const std::string& where) {
  constexpr int64_t kMax = int64_t{1} << 48;
  int64_t params = 0, state = 0;
  bool over = false;
  const auto add = [&](int64_t& total, int64_t n) {
    over = over || __builtin_add_overflow(total, n, &total) || total > kMax;
  };
  for_each_block_sizes(c, [&](const BlockSizes& b) {
    over = over || b.overflow;
    add(params, b.params);
    add(state, b.state_floats);
    return !over;
  });
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
