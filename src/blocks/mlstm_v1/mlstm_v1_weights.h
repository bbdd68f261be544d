#pragma once
// The mLSTM v1 block's weights as float32 host arrays (spec §3.3, §3.6), read by their official
// names or drawn at random; the CPU and CUDA forwards take them from here.
#include <cstdint>
#include <vector>

#include "blocks/mlstm_v1/mlstm_v1_config.h"
#include "model/block_registry.h"

namespace xlstm {

inline const MlstmV1Config& config_of_mlstm_v1(const BlockSite& s) {
  return static_cast<const MlstmV1Config&>(*s.spec.config);
}

struct MlstmV1Weights {
  std::vector<float> norm;            // [E] 1 + w
  std::vector<float> up;              // [2I, E]
  std::vector<float> up_b;            // [2I] or empty
  std::vector<float> conv_w, conv_b;  // [I, KS], [I]
  std::vector<float> q_w, k_w, v_w;   // [I/bs, bs, bs]
  std::vector<float> q_b, k_b, v_b;   // [I] or empty
  std::vector<float> gates;           // [2NH, 3I]: ĩ rows, then f̃ rows (float32)
  std::vector<float> gates_b;         // [2NH]
  std::vector<float> outnorm;         // [I] 1 + w
  std::vector<float> skip;            // [I]
  std::vector<float> down;            // [E, I]
  std::vector<float> down_b;          // [E] or empty
};

MlstmV1Weights load_mlstm_v1_weights(const BlockSite& s, WeightLoader& L);
MlstmV1Weights random_mlstm_v1_weights(const BlockSite& s, uint64_t seed);

}  // namespace xlstm
