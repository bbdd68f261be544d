#pragma once
// Where each checkpoint tensor lands in the in-memory layout, independent of the device: the CPU
// and CUDA loaders both walk this plan. Projections are held fused whatever the checkpoint's
// weight_mode (one GEMM per stage): w_in = q | k | v | o | ĩ | f̃ by rows, w_up = gate | up.
// Topology comes from the config; names and shapes are checked by the WeightLoader.
#include <cstdint>
#include <string>
#include <vector>

#include "io/safetensors.h"
#include "model/weight_loader.h"
#include "xlstm/config.h"

namespace xlstm {

enum class WeightField {
  // Model level.
  Embedding,  // [V, E]
  OutNormW,   // [E]
  OutNormB,   // [E]
  LmHead,     // [V, E]; absent when tied to the embedding
  // Per block.
  NormMlstmW,  // [E]
  NormMlstmB,  // [E]
  WIn,         // [2·qk + 2·v + 2·NH, E]
  BIn,         // [2·qk + 2·v + 2·NH]; always held (gate biases), zeros where absent
  MhNormW,     // [v]
  MhNormB,     // [v]
  WOut,        // [E, v]
  BOut,        // [E]
  NormFfnW,    // [E]
  NormFfnB,    // [E]
  WUp,         // [2F, E]
  BUp,         // [2F]
  WDown,       // [E, F]
  BDown,       // [E]
};
inline constexpr int kNumWeightFields = static_cast<int>(WeightField::BDown) + 1;

struct FieldShape {
  int64_t rows = 0, cols = 0;  // vectors: rows = 1
  int64_t numel() const { return rows * cols; }
};

// Shape of a field for this config; numel() == 0 when the config has no such tensor.
FieldShape field_shape(const ModelConfig& c, WeightField f);
// Matrices are held in the weight type (F32 or BF16); vectors always in float32.
bool is_matrix(WeightField f);

struct WeightSlot {
  std::string name;  // checkpoint tensor
  Shape shape;       // its expected shape
  int block;         // -1: model level
  WeightField field;
  int64_t offset;  // first element inside the field
};

struct WeightPlan {
  std::vector<WeightSlot> slots;
  std::vector<std::string> skipped;  // present but unused (a tied lm_head's copy)
};

// Block i's slots (block = i).
std::vector<WeightSlot> plan_block_weights(const ModelConfig& c, int i);
// The embedding is named embedding.weight (NX-AI) or backbone.embeddings.weight (HF): the loader
// tells which one the checkpoint has.
WeightPlan plan_weights(const ModelConfig& c, const WeightLoader& loader);

}  // namespace xlstm
