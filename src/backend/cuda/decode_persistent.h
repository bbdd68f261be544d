#pragma once
// Decode of one sequence as one persistent kernel (decode_persistent.cu): every block of the model
// and the LM head in a single launch, so that the weights stream without a gap between kernels.
// The bf16 fused decode path's numerics (norm weights folded into W_in, W_up and the LM head;
// bf16 copies of x, of the gated cell output and of the SwiGLU output as GEMV inputs; float32
// residual stream, cell and state).
#include <cstdint>

#include "backend/cuda/api.h"

namespace xlstm::cuda {

// Device pointers of one model block; biases and the head norm's bias may be null.
struct PersistentLayer {
  const void* w_in;     // bf16 [2qk + 2v + 2NH, E], RMS norm weight folded in
  const float* b_in;    // [2qk + 2v + 2NH]
  const float* mh_w;    // [v] per-head LayerNorm weight
  const float* mh_b;    // [v]
  const void* w_out;    // bf16 [E, v]
  const float* b_out;   // [E]
  const void* w_up;     // bf16 [2F, E], RMS norm weight folded in
  const float* b_up;    // [2F]
  const void* w_down;   // bf16 [E, F]
  const float* b_down;  // [E]
};

struct PersistentDecode {
  int64_t E, NH, DHQK, DHV, F, V;
  float norm_eps, cell_eps, gate_cap, logit_cap;
  const PersistentLayer* d_layers;  // device array of L entries
  int64_t L;
  const void* lm_head;  // bf16 [V, E], out norm folded in; null: the caller runs the head
  // State of the one sequence: block i's C [NH, DHQK, DHV] at state + i·state_stride, its n
  // [NH, DHQK] at + n_offset and m [NH] at + m_offset (floats).
  float* state;
  int64_t state_stride, n_offset, m_offset;
  // Workspace: x [E] (float32, from the embedding) and xb [E] (its bf16 copy) in and out;
  // ll: persistent_decode_words 8-byte words (16-byte aligned) for the vectors the blocks pass to
  // each other; logits [V].
  float* x;
  void* xb;
  uint64_t* ll;
  float* logits;
  // Experiments and stress tests (XLSTM_PD_POOL_IN=1, XLSTM_PD_JITTER_NS=N when the model is
  // made): a pool for the in projection's last rows, as the up projection has; each block and
  // each consumer warp sleeping a random 0 .. jitter_ns at every phase, so that the blocks reach
  // the phases in other orders than the hardware's usual one.
  bool pool_in = false;
  uint32_t jitter_ns = 0;
};

// Whether this device and these shapes can run it: an sm_90 build and device, cooperative
// launch, enough shared memory, E, v and F multiples of 8, rows that fit a ring stage, heads up to
// 256 (q, k) and 512 (v) wide, no more column tiles of 32 than SMs.
bool persistent_decode_supported(int64_t E, int64_t NH, int64_t DHQK, int64_t DHV, int64_t F);
int64_t persistent_decode_words(int64_t E, int64_t NH, int64_t DHQK, int64_t DHV, int64_t F,
                                int64_t L);

// Enqueues the decode step on s (a clear of the words and one cooperative launch; capturable).
void persistent_decode(const PersistentDecode& d, Stream s);

}  // namespace xlstm::cuda
