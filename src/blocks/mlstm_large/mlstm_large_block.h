#pragma once
// One xLSTM Large block (spec §1.4): RMSNorm → mLSTM layer → residual → RMSNorm → SwiGLU →
// residual.
#include <string>
#include <vector>

#include "core/matrix.h"
#include "model/workspace.h"
#include "xlstm/config.h"
#include "xlstm/formulation.h"
#include "xlstm/state.h"

namespace xlstm {

// Projections are stored fused whatever the checkpoint's weight_mode: one GEMM per stage.
struct MlstmLargeBlockWeights {
  std::vector<float> norm_mlstm_w, norm_mlstm_b;  // [E]; bias empty unless use_bias
  Matrix w_in;                                // [2·qk + 2·v + 2·NH, E]: q | k | v | o | ĩ | f̃
  std::vector<float> b_in;                    // [2·qk + 2·v + 2·NH]: zeros where absent
  std::vector<float> mh_norm_w, mh_norm_b;    // [v]
  Matrix w_out;                               // [E, v]
  std::vector<float> b_out;                   // [E]
  std::vector<float> norm_ffn_w, norm_ffn_b;  // [E]
  Matrix w_up;                                // [2F, E]: gate | up
  std::vector<float> b_up;                    // [2F]
  Matrix w_down;                              // [E, F]
  std::vector<float> b_down;                  // [E]
};

// x: [B·S, E] residual stream, row b·S + s; advanced in place, as is the block's state.
void mlstm_large_block_forward(const MlstmLargeBlockWeights& w, const ModelConfig& c, float* x,
                               int64_t B, int64_t S, BlockState& state, Formulation formulation,
                               int64_t chunk, Workspace& ws);

}  // namespace xlstm
