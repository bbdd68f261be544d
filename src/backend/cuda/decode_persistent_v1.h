#pragma once
// Decode of one sequence through a run of consecutive mLSTM v1 blocks (spec §3.1) in a single
// persistent kernel (decode_persistent_v1.cu): the weights of every block of the run stream
// without a gap between kernels, and each block's float32 C streams while the next weights do.
// Numerics: the per-kernel decode's (mlstm_v1_cuda.cpp at S = 1: LayerNorm into bf16, bf16
// GEMVs with float32 sums, float32 conv, q/k/v, gates, cell, group norm; the output gate's
// product rounded to bf16 as the down projection's input); sums associate differently.
#include <cstdint>

#include "backend/cuda/api.h"

namespace xlstm::cuda {

// Device pointers of one mLSTM v1 block's weights; biases may be null unless noted.
struct V1DecodeLayer {
  const float* norm;             // [E] 1 + w (LayerNorm without bias)
  const void* w_up;              // bf16 [2I, E]: x_m rows, then z rows
  const float* b_up;             // [2I]
  const float *conv_w, *conv_b;  // [I, 4], [I]
  const float *q_w, *k_w, *v_w;  // [I, 4] blocks of 4
  const float *q_b, *k_b, *v_b;  // [I]
  const float* gates;            // [2NH, 3I] float32 (ĩ rows, then f̃ rows); not null
  const float* gates_b;          // [2NH]; not null
  const float* outnorm;          // [I] 1 + w; not null
  const float* skip;             // [I]; not null
  const void* w_down;            // bf16 [E, I]
  const float* b_down;           // [E]
};

// One block's state (16-byte aligned): the conv window [4, I] (newest last), C [NH, DH, DH],
// n [NH, DH], m [NH].
struct V1DecodeState {
  float *conv, *C, *n, *m;
};

// Blocks per launch (their states travel as kernel parameters, so that a captured graph holds
// them and the weights' table stays the same for every state).
inline constexpr int64_t kMaxV1DecodeLayers = 48;

inline constexpr uint32_t kRingBuildDepth = ~0u;

// A CUDA tensor map (CUtensorMap: 128 opaque bytes; cuda.h stays out of this header, which host
// code without the CUDA toolkit includes).
struct alignas(128) V1TensorMap {
  uint64_t opaque[16];
};

// How the cell's tile of C is asked into L2 while W_up streams (XLSTM_PD_V1_C_PREFETCH=
// last|normal|none, in this order; experiments).
enum class V1CPrefetch : uint8_t { kEvictLast, kNormal, kNone };

struct V1DecodeRun {
  int64_t E, I, NH, L;  // L ≤ kMaxV1DecodeLayers
  float norm_eps, cell_eps;
  const V1DecodeLayer* d_layers;  // device array of L entries
  V1DecodeState state[kMaxV1DecodeLayers];
  float* x;         // [E] the residual stream of the one token, advanced in place
  uint64_t* words;  // v1_decode_words of them, 16-byte aligned: the vectors blocks pass
  // Stress tests (XLSTM_PD_JITTER_NS=N when the model is made): each block's producer and
  // consumer warps sleep a random 0 .. jitter_ns at every phase.
  uint32_t jitter_ns = 0;
  // Each layer's small vectors asked into L2 at its start (XLSTM_PD_V1_PREFETCH=on; off by
  // default: 2.5% slower decode on an H100, bench/results/family_cuda.md).
  bool prefetch_vectors = false;
  // The weight ring's copies in flight (1 .. 6), L2 look-ahead in stages and pooled share (1 /
  // ring_pool of a phase's units; weight_ring.cuh): kRingBuildDepth for the build's
  // XLSTM_PD_INFLIGHT / XLSTM_PD_PREFETCH / XLSTM_PD_POOL; the environment variables of the same
  // names set them at run time (experiments).
  uint32_t ring_in_flight = kRingBuildDepth, ring_prefetch = kRingBuildDepth;
  uint32_t ring_pool = kRingBuildDepth;
  // The cell's C: prefetch priority, and stores with evict_first (XLSTM_PD_V1_C_EVICT=on).
  V1CPrefetch c_prefetch = V1CPrefetch::kEvictLast;
  bool c_evict = false;
  // The cell's tile of C streamed into the weight ring by the copy engine, between the layer's
  // W_up and W_down, instead of loaded by the consumer threads (XLSTM_PD_V1_C_STREAM=off: loaded):
  // the reads take no registers, and the producer has them in flight while the consumers wait on
  // the other blocks (4.7% faster decode on an H100, bench/results/family_cuda.md). c_maps:
  // filled by v1_decode_run (the callers leave them).
  bool c_stream = true;
  V1TensorMap c_maps[kMaxV1DecodeLayers];
  // Debugging (XLSTM_PD_TRACE=FILE, set by v1_decode_run): per block and layer, kV1TracePoints
  // global-timer readings (ns) of its phase boundaries; null: none taken.
  unsigned long long* trace = nullptr;
};

// The trace's points per (block, layer): the consumers at the layer's start, after the norm,
// up, qkv, cell and out phases and after down (0 .. 6), the producer at the start of the
// layer's W_up and W_down (7, 8), and in blocks with a cell tile: after the waits for q, k and
// the gates (9), after the tile's C (10) and after the wait for the head's stats (11).
inline constexpr int kV1TracePoints = 12;

// Whether this device and these shapes can run it: an sm_90 build and device, cooperative launch,
// E ≤ 4096 and I multiples of 8, heads of DH = I / NH a multiple of 4 up to 2048 columns, no
// more (head, 32-column) tiles than SMs, at most 64 groups of 4 features per SM, and a block per
// SM fitting its shared memory and registers.
bool v1_decode_supported(int64_t E, int64_t I, int64_t NH);
int64_t v1_decode_words(int64_t E, int64_t I, int64_t NH, int64_t L);

// Enqueues the run on s (a clear of the words and one cooperative launch; capturable). With
// XLSTM_PD_TRACE=FILE in the environment, an eager call (not one being captured) also waits for
// the launch and appends its trace to FILE: int64 blocks, layers, points, then the readings.
void v1_decode_run(const V1DecodeRun& r, Stream s);

}  // namespace xlstm::cuda
