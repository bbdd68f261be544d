#pragma once
// The sLSTM block's weights as float32 host arrays (spec §3.4, §3.6), read from a checkpoint by
// their official names (the recurrent kernel and bias converted to the vanilla layout whatever
// the config's backend) or drawn at random; the CPU and CUDA forwards take them from here.
#include <cstdint>
#include <vector>

#include "blocks/slstm/slstm_config.h"
#include "model/block_registry.h"

namespace xlstm {

inline const SlstmConfig& config_of_slstm(const BlockSite& s) {
  return static_cast<const SlstmConfig&>(*s.spec.config);
}

struct SlstmWeights {
  std::vector<float> norm;            // [E] 1 + w
  std::vector<float> conv_w, conv_b;  // [E, KS], [E]; empty without conv
  std::vector<float> wi, wf, wz, wo;  // [NH, DH, DH] each (i ← "fgate", f ← "igate")
  std::vector<float> R;               // [NH, 4·DH, DH] vanilla layout, row g·DH + e
  std::vector<float> bias;            // [4E] gate-major
  std::vector<float> group_norm;      // [E] 1 + w (ones without the weight)
  std::vector<float> ffn_norm;        // [E] 1 + w; the rest of the ffn empty without one
  std::vector<float> ffn_up;          // [2F, E]: gate | up
  std::vector<float> ffn_up_b;        // [2F] or empty
  std::vector<float> ffn_down;        // [E, F]
  std::vector<float> ffn_down_b;      // [E] or empty
};

SlstmWeights load_slstm_weights(const BlockSite& s, WeightLoader& L);
SlstmWeights random_slstm_weights(const BlockSite& s, uint64_t seed);

}  // namespace xlstm
