#pragma once
// The block registry: every block type a stack can hold, each one unit that declares its typed
// config, its state tensors, its parameter count and its CPU forward (sequence and step: one call
// over S tokens, S = 1 for a decode step). A model is embedding → blocks from this registry →
// post norm → head. Adding a block type is one folder under src/blocks/ plus one line in
// block_registry.cpp; nothing else learns its name.
//
// On CUDA, xLSTM Large runs in its own fused backend (src/backend/cuda/cuda_model.cpp); other
// stacks run block by block through each type's CudaBlockFactory (src/backend/cuda/cuda_block.h,
// listed in src/blocks/registered_cuda.def).
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "core/matrix.h"
#include "model/weight_loader.h"
#include "model/workspace.h"
#include "xlstm/config.h"
#include "xlstm/model.h"
#include "xlstm/state.h"

namespace xlstm {

// One block's weights on the CPU and its forward.
class CpuBlock {
 public:
  virtual ~CpuBlock() = default;
  // x: [B·S, E] residual stream, row b·S + s; advanced in place, as is the block's state.
  virtual void forward(float* x, int64_t B, int64_t S, BlockState& state, const RunOptions& o,
                       Workspace& ws) const = 0;
  virtual size_t weight_bytes() const = 0;
};

// Where a block sits and what it is: the model's config, its position, its spec.
struct BlockSite {
  const ModelConfig& model;
  int index;
  BlockSpec spec;
  std::string prefix;  // its checkpoint name prefix, e.g. "xlstm_block_stack.blocks.3."
};

class BlockType {
 public:
  virtual ~BlockType() = default;
  virtual const char* name() const = 0;  // registry name, e.g. "slstm"
  virtual char letter() const = 0;       // layout letter, e.g. 's'
  // Other names a config may use for it in an explicit block list (e.g. "mlstm" for mlstm_v1).
  virtual std::vector<std::string> aliases() const { return {}; }
  // The section of the original family's config that configures it ("mlstm_block"), or null for
  // types that family does not hold.
  virtual const char* family_config_key() const { return nullptr; }
  // Parses that section (errors name `where` and the field; keys it does not know go to
  // warnings, io/json_section.h). Types without one return null.
  virtual std::shared_ptr<const BlockConfig> parse_config(const nlohmann::json& section,
                                                          const ModelConfig& model,
                                                          const std::string& where,
                                                          std::vector<std::string>& warnings) const;

  virtual std::vector<StateTensorSpec> state(const BlockSite& site) const = 0;
  virtual int64_t parameter_count(const BlockSite& site) const = 0;
  // Weight bytes as stored in float32 per parameter is parameter_count · 4; info shows more.
  virtual std::string describe(const BlockSite& site) const = 0;

  virtual std::unique_ptr<CpuBlock> load_cpu(const BlockSite& site, WeightLoader& loader,
                                             WeightType wt) const = 0;
  // Random weights of the declared shapes (benchmarks, tests).
  virtual std::unique_ptr<CpuBlock> random_cpu(const BlockSite& site, uint64_t seed,
                                               WeightType wt) const = 0;
};

// All registered types, in registration order.
std::span<const BlockType* const> block_types();
// The type of this name or alias; throws InvalidInput naming it and listing the known ones.
const BlockType& block_type(const std::string& name);

// Checkpoint prefix of block i in the config's family.
std::string block_prefix(const ModelConfig& c, int i);
BlockSite block_site(const ModelConfig& c, int i);

// Config loading's last check: the blocks' parameters and state floats per sequence, summed, are at
// most 2^48 (each block's sizes are bounded by its own checks, their sum over up to 2^16 blocks is
// not), so every size derived from a loaded config fits in int64 with room for byte counts.
// Throws InvalidInput naming `where` and num_blocks.
void check_model_size(const ModelConfig& c, const std::string& where);

}  // namespace xlstm
