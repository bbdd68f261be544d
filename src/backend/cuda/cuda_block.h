#pragma once
// The CUDA forward of a registered block type (src/blocks/<type>/<type>_cuda.cpp), run by the
// family backend (family_model.cpp). Weights, state and activations live on the device; launches
// go to the model's stream.
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include "backend/cuda/api.h"
#include "backend/cuda/gemm.h"
#include "model/backend.h"
#include "model/block_registry.h"

namespace xlstm::cuda {

// Decode graphs a model keeps (one per batch size and state; both backends; past it they are all
// dropped). A server steps every batch size from 1 to its --max-batch, and its prefill rows'
// one-token steps too: with fewer graphs than sizes it would capture the same ones over and over.
inline constexpr size_t kMaxDecodeGraphs = 1024;

// What a captured decode graph depends on: the batch, the state's device memory (its kernels
// address it; a freed state's address may come back with another capacity, so other tensor
// offsets) and the workspace's generation (pointers captured in the graph). Named fields: a
// tuple index once compared the state's size where the generation was meant, and no graph
// was ever kept.
struct DecodeGraphKey {
  int64_t batch = 0;
  const void* state = nullptr;
  size_t state_bytes = 0;
  uint64_t workspace_generation = 0;
  bool operator<(const DecodeGraphKey& o) const {
    return std::tie(batch, state, state_bytes, workspace_generation) <
           std::tie(o.batch, o.state, o.state_bytes, o.workspace_generation);
  }
};

// Device weights: float32 vectors, and matrices in the model's weight type (GEMM operands).
DeviceBuffer upload_floats(const std::vector<float>& v);
DeviceBuffer upload_matrix(const std::vector<float>& v, WeightType wt);

// Scratch that only grows; slots are named so that blocks can share them.
class Workspace {
 public:
  float* f32(const std::string& slot, int64_t n) { return static_cast<float*>(get(slot, n * 4)); }
  void* typed(const std::string& slot, int64_t n, WeightType wt) {
    return get(slot, n * (wt == WeightType::BF16 ? 2 : 4));
  }
  void* get(const std::string& slot, int64_t bytes);
  // Bumped whenever a slot moved: pointers captured in graphs are stale.
  uint64_t generation() const { return generation_; }

 private:
  std::map<std::string, DeviceBuffer> slots_;
  uint64_t generation_ = 0;
};

struct CudaContext {
  Gemm& gemm;
  Workspace& ws;
  Stream stream;
  WeightType wt;       // GEMM operand type
  uint32_t jitter_ns;  // persistent kernels' random pauses (stress tests; 0: none)
};

// One block's state tensors on the device, by name (the block type's StateTensorSpec names).
class DeviceBlockState {
 public:
  std::map<std::string, float*> tensors;
  float* operator[](const std::string& name) const;
};

class CudaBlock {
 public:
  virtual ~CudaBlock() = default;
  // x: [B·S, E] float32 residual stream on the device, advanced in place, as is the state.
  virtual void forward(float* x, int64_t B, int64_t S, const DeviceBlockState& state,
                       const RunOptions& o, CudaContext& ctx) = 0;
  virtual size_t weight_bytes() const = 0;
  // Decode of one sequence (B = S = 1) through consecutive blocks of this type in one launch,
  // where the type has such a kernel (the model asks unless XLSTM_FAMILY_PERSISTENT=off): run[0] is
  // this block, states[i] run[i]'s state. False, with nothing enqueued, when it cannot; the model
  // then calls forward() block by block.
  virtual bool decode_run(std::span<CudaBlock* const> run, float* x,
                          std::span<const DeviceBlockState> states, CudaContext& ctx) {
    (void)run, (void)x, (void)states, (void)ctx;
    return false;
  }
};

// A block type's CUDA forward: loads the block's weights (site and loader as on the CPU) or
// draws random ones.
struct CudaBlockFactory {
  std::unique_ptr<CudaBlock> (*load)(const BlockSite&, WeightLoader&, WeightType);
  std::unique_ptr<CudaBlock> (*random)(const BlockSite&, uint64_t seed, WeightType);
};
// The factory of this registered type, or null when it has no CUDA forward.
const CudaBlockFactory* cuda_block_factory(const std::string& type);
}  // namespace xlstm::cuda

namespace xlstm {
#define XLSTM_CUDA_BLOCK(t) const cuda::CudaBlockFactory& t##_cuda_forward();
#include "blocks/registered_cuda.def"
#undef XLSTM_CUDA_BLOCK
}  // namespace xlstm

namespace xlstm::cuda {

// The family backend (family_model.cpp): stacks of block types with a CUDA forward.
std::unique_ptr<ModelBackend> load_family_backend(const ModelConfig& c, WeightLoader& L,
                                                  WeightType wt, bool graphs);
std::unique_ptr<ModelBackend> random_family_backend(const ModelConfig& c, uint64_t seed,
                                                    WeightType wt);

}  // namespace xlstm::cuda
