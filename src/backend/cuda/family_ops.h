#pragma once
// CUDA ops of the original family's blocks (mLSTM v1, sLSTM; spec §3). Each computes what the CPU
// op of the same purpose in src/ops computes (tests/test_cuda_family.cpp compares the models).
// Float32 arithmetic; device pointers; asynchronous on `s`.
#include <cstdint>
#include <vector>

#include "backend/cuda/api.h"
#include "core/matrix.h"
#include "ops/elementwise.h"

namespace xlstm::cuda {

// y[t] = (accumulate ? y[t] : 0) + LayerNorm over each of G groups of D (biased variance) · w.
// x [T, G·D] float32 (rows at x + t·x_stride), w [G·D] (the 1 + w scale), y [T, G·D] as y_type
// (accumulate: float32 only).
void group_layer_norm(const float* x, int64_t T, int64_t G, int64_t D, int64_t x_stride,
                      const float* w, float eps, void* y, WeightType y_type, bool accumulate,
                      Stream s);

// Causal depthwise conv with its window (ops/causal_conv.h), then SiLU when silu.
// x rows (b·S + t) at stride x_stride; state [B, KS, F]; y [B·S, F].
void causal_conv1d(const float* x, int64_t x_stride, int64_t B, int64_t S, int64_t F,
                   const float* w, const float* bias, int64_t KS, float* state, float* y, bool silu,
                   Stream s);

// mLSTM v1's q, k, v: block-diagonal projections (blocks of bs) of c (q, k; [T, I]) and x_m (v;
// rows at xm_stride), in one launch. qkv [T, 3I] gets q | k | v; qk_scaled [T, 2I] gets
// q · scale | k / scale.
struct MlstmV1Qkv {
  int64_t T, I, bs;
  const float* c;
  const float* xm;
  int64_t xm_stride;
  const float *q_w, *q_b, *k_w, *k_b, *v_w, *v_b;  // W [I, bs] each, b [I] or null
  float* qkv;
  float* qk_scaled;
};
void mlstm_v1_qkv(const MlstmV1Qkv& a, float scale, Stream s);
// Decode (S ≤ 4 steps): c_out [T, I] = SiLU(causal_conv1d(x_m)) with its window, then
// mlstm_v1_qkv of it (a.c is not read), in one launch. Only for 4 taps, blocks of 4 and 16-byte
// rows: false (nothing enqueued) otherwise.
bool mlstm_v1_conv_qkv_steps(const MlstmV1Qkv& a, float* c_out, int64_t B, int64_t S,
                             const float* conv_w, const float* conv_b, int64_t KS,
                             float* conv_state, float scale, Stream s);

// out [T, N] = x [T, K] · W [N, K]ᵀ + b (b may be null), float32, in one launch: for the few
// rows of a decode step, where a GEMM library launches several kernels. counters [T·N]: zero
// before the first call (every call leaves them zero); partials: small_linear_partial_floats.
int64_t small_linear_partial_floats(int64_t T, int64_t K, int64_t N);
void small_linear(const float* x, int64_t T, int64_t K, const float* W, const float* b, int64_t N,
                  float* out, unsigned* counters, float* partials, Stream s);

// The sLSTM block's inputs at a decode step (one step per sequence, T = B rows): u = LayerNorm(x
// [T, E])·w and c = SiLU(causal_conv1d(u)) with the window state [T, KS, E] advanced, both
// stored as bf16 [T, E] (the gate projections' operands): what group_layer_norm, causal_conv1d
// and two copy_rows compute, value for value, in one launch. False, with nothing launched, for
// E > 8192 or KS outside 1 .. 16.
bool slstm_step_inputs(const float* x, int64_t T, int64_t E, const float* w, float eps,
                       const float* conv_w, const float* conv_b, int64_t KS, float* state,
                       void* u_out, void* c_out, Stream s);

// The sLSTM block's two headwise gate projections for the few rows of a decode step, without
// the zeros of the block-diagonal matrices the prefill GEMMs take (at NH = 4 they are 3/4 of its
// bytes): y [T, 2E] (float32), y[t, p·E + h·DH + o] = Σ_d W[p, h, o, d] · x[t, h·DH + d] for
// p = 0, 1; x [T, E] bf16 (E = NH·DH), W bf16 [2, NH, DH, DH]. False, with nothing launched,
// unless T ≤ kHeadwiseMaxRows, DH % 8 = 0 and x, W 16-byte aligned.
inline constexpr int64_t kHeadwiseMaxRows = 4;
bool headwise_pair_gemv(const void* x, int64_t T, int64_t NH, int64_t DH, const void* W, float* y,
                        Stream s);

// act[t, j] = act(g[t, j]) · u[t, j] with gate | up side by side [T, 2F] → [T, F] (out_type).
void gated_activation(const float* gate_up, int64_t T, int64_t F, Activation a, void* out,
                      WeightType out_type, Stream s);

// mLSTM v1's multi-head norm and output in one pass: hn = group_layer_norm(h) over NH groups of
// DH, out[t, j] = (hn[t, j] + skip[j] · c[t, j]) · SiLU(z[t, j]); h, c [T, NH·DH]; z rows at
// z_stride; out [T, NH·DH] as out_type.
void mlstm_v1_norm_output(const float* h, int64_t T, int64_t NH, int64_t DH, const float* w,
                          float eps, const float* c, const float* skip, const float* z,
                          int64_t z_stride, void* out, WeightType out_type, Stream s);

// The sLSTM recurrence of one layer over S steps for B sequences in one launch (slstm.cu): heads
// run independently; each head's rows are split over G blocks that keep their slice of the
// recurrent matrix on chip (shared memory) across all steps and pass each step's y through
// global memory as flagged words (a cooperative launch: all blocks resident).
struct SlstmRecurrence {
  int64_t B, S, E, NH, DH;
  const float* wx_if;        // [B·S, 2E] W·x rows of the input and forget gates (i | f)
  const float* wx_zo;        // [B·S, 2E] of the cell input and output gates (z | o)
  const float* bias;         // [4E] gate-major
  const void* R;             // slstm_arrange_recurrent for this plan's G, as r_type
  const void* R_frag;        // tensor-core plans: slstm_arrange_fragments as bf16 (else null)
  WeightType r_type;         // F32 or BF16
  float* y;                  // [B·S, E] outputs
  float *sy, *sc, *sn, *sm;  // state [B, E], advanced
};
// Launches of more than kSlstmTensorCoreMinBatch sequences take the tensor-core kernel where the
// plan has it; fewer run faster on CUDA cores (one n-tile of 8 would be mostly empty).
inline constexpr int64_t kSlstmTensorCoreMinBatch = 4;
struct SlstmPlan {
  int G = 1;  // blocks per head
  int threads = 128;
  int max_batch = 1;          // sequences per launch (shared memory)
  bool smem_R = false;        // the CUDA-core kernel's slice fits in shared memory
  bool tensor_cores = false;  // bf16 slices fit in registers as mma fragments (slstm.cu)
};
// allow_tensor_cores = false: the CUDA-core kernel for bf16 too (benchmarks).
SlstmPlan slstm_plan(int64_t NH, int64_t DH, WeightType r_type, bool allow_tensor_cores = true);
// R in the vanilla layout [NH, 4·DH, DH] (row g·DH + e) → [NH, G, DH, 4U] (U = DH/G; column
// g'·U + u for gate g', unit e = g·U + u), the CUDA-core kernel's slices, as floats on the host.
std::vector<float> slstm_arrange_recurrent(const std::vector<float>& R, int64_t NH, int64_t DH,
                                           int G);
// The same slices in the order a tensor-core plan's threads hold them as mma fragments
// (slstm.cu), so that each thread loads its fragments with 16-byte reads; upload as bf16.
std::vector<float> slstm_arrange_fragments(const std::vector<float>& R, int64_t NH, int64_t DH,
                                           const SlstmPlan& p);
// Scratch: the exchange buffer and counters.
size_t slstm_scratch_bytes(const SlstmPlan& p, int64_t NH, int64_t E);
void slstm_recurrence(const SlstmRecurrence& x, const SlstmPlan& p, void* d_scratch, Stream s);

// One step of the recurrence per sequence (decode: x.S = 1, x.B ≤ kHeadwiseMaxRows) with bf16 R in
// the vanilla layout [NH, 4·DH, DH] (R_rows; x.R is not read): a warp per unit and no exchange
// between blocks, then y copied into the state. slstm_recurrence's values but for the dot
// products' sum order. False, with nothing launched, unless DH % 8 = 0 and R_rows and the state's
// y are 16-byte aligned.
bool slstm_step(const SlstmRecurrence& x, const void* R_rows, Stream s);

// slstm_step with the step's headwise gate projections in the same launch (x.wx_if, x.wx_zo are
// not read): W_if, W_zo the headwise pairs [2, NH, DH, DH] of headwise_pair_gemv, against xc
// (i, f) and u (z, o), bf16 [B, E]; y copied into the state by the kernel's last block (counter:
// one zeroed unsigned, left zero). The bits of headwise_pair_gemv then slstm_step. False, with
// nothing launched, where slstm_step's conditions fail or an operand is missing or not 16-byte
// aligned.
struct SlstmStepProjections {
  const void* xc;
  const void* u;
  const void* W_if;
  const void* W_zo;
};
bool slstm_step_projected(const SlstmRecurrence& x, const void* R_rows,
                          const SlstmStepProjections& p, unsigned* counter, Stream s);

// dst[i] += src[i].
void add_inplace(float* dst, const float* src, int64_t n, Stream s);

}  // namespace xlstm::cuda
