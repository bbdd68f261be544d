#pragma once
// CUDA ops: host launchers of the backend's own kernels, one .cu file per family. Each computes
// what the CPU op of the same name in src/ops computes (tests/test_cuda_ops.cpp compares them).
// Arithmetic is float32 whatever the storage type; all pointers are device memory; launches are
// asynchronous on `s`. Buffers whose type is a WeightType hold F32 or BF16 (GEMM inputs).
#include <cstddef>
#include <cstdint>

#include "backend/cuda/api.h"
#include "core/dtype.h"
#include "core/matrix.h"
#include "xlstm/sampler.h"

namespace xlstm::cuda {

class Gemm;  // gemm.h

// rms_norm.cu — y[t] = x[t] · rsqrt(mean(x[t]²) + eps) · w (+ b) (w null: ones, the weight
// folded into the next GEMM's W, see scale_columns); x rows t at x + t·x_stride
// (x_stride = D: contiguous; S·D from x + (S-1)·D: each sequence's last row), y [T, D].
void rms_norm(const float* x, int64_t T, int64_t D, int64_t x_stride, const float* w,
              const float* b, float eps, void* y, WeightType y_type, Stream s);

// gates.cu — in place on [rows, cols]: x[:, col0 : col0 + ncols] = cap · tanh(x / cap). The gate
// pre-activations' and the logits' soft cap.
void soft_cap_columns(float* x, int64_t rows, int64_t cols, int64_t col0, int64_t ncols, float cap,
                      Stream s);

// multihead_norm.cu — y = LayerNorm_head(h) · w (+ b) · σ(o): per-head LayerNorm (biased
// variance) over DH, the flat weight [NH·DH], then the output gate. h [T, NH·DH]; o row t at
// o + t·o_stride; y [T, NH·DH].
void multihead_norm_gate(const float* h, int64_t T, int64_t NH, int64_t DH, const float* w,
                         const float* b, float eps, const float* o, int64_t o_stride, void* y,
                         WeightType y_type, Stream s);

// swiglu.cu — act[t, j] = SiLU(g[t, j]) · u[t, j] with gate | up side by side: [T, 2F] → [T, F].
void swiglu(const float* gate_up, int64_t T, int64_t F, void* act, WeightType act_type, Stream s);
// The same from bf16 gate | up rows (the bf16 prefill's up-projection output).
void swiglu_bf16_in(const void* gate_up, int64_t T, int64_t F, void* act, WeightType act_type,
                    Stream s);

// weights.cu — embedding rows, type conversion, random fill.
// x[t] = table[ids[t]] as float32; table [V, E].
void embedding_gather(const int32_t* d_ids, int64_t T, const void* table, WeightType type,
                      int64_t E, float* x, Stream s);
// dst[i] = src[i] for n elements stored as src_type (F32, BF16, F16).
void convert(const void* src, DType src_type, void* dst, WeightType dst_type, size_t n, Stream s);
// y [R, D] (y_type) = rows of x at x + r·x_stride (float32).
void copy_rows(const float* x, int64_t R, int64_t D, int64_t x_stride, void* y, WeightType y_type,
               Stream s);
// n values mean + std·N(0, 1) from a counter-based generator keyed by (seed, stream_id).
void fill_normal(void* dst, WeightType type, size_t n, float mean, float std, uint64_t seed,
                 uint64_t stream_id, Stream s);
void fill_value(float* dst, size_t n, float value, Stream s);
// W[n, k] ·= g[k] in place, W [N, K] as type (rounded once): a norm weight folded into the Linear
// layer that reads the norm's output, (x · r · g) · Wᵀ = (x · r) · (W · diag g)ᵀ.
void scale_columns(void* W, WeightType type, int64_t N, int64_t K, const float* g, Stream s);

// The mLSTM cell (spec §1.5, §2) for a batch. Token (b, s) of head h reads
// q: q.p[(b·S + s)·q.stride + h·DHQK + j] (k alike), v: v.p[... + h·DHV + j],
// gates: igate.p[(b·S + s)·igate.stride + h] (pre-activations, soft-capped unless gate_cap > 0),
// and writes h_out[(b·S + s)·h_stride + h·DHV + j]. State C [B, NH, DHQK, DHV], n [B, NH, DHQK],
// m [B, NH], float32, advanced in place; the tensor-core path needs C 32-byte aligned.
struct DevRows {
  const float* p;
  int64_t stride;
};
struct CellBatch {
  int64_t B, S, NH, DHQK, DHV;
  DevRows q, k, v, igate, fgate;
  float* h;
  int64_t h_stride;
  // > 0: the gates are raw and the step form soft-caps them as it reads them (one launch fewer
  // per block in decode); 0: already capped. The chunkwise form needs them capped.
  float gate_cap = 0.0f;
};
struct CellStateDev {
  float* C;
  float* n;
  float* m;
};

// mlstm_step.cu — the recurrent form, one token after another (S launches of the fused step).
// d_sync: mlstm_step_sync_bytes of counters, zero before the first call (every call leaves them
// zero). norm (optional): also y = multihead_norm_gate(h) with these arguments (y [T, NH·DHV]),
// in the same launch.
struct HeadNormGate {
  const float* w;
  const float* b;
  float eps;
  const float* o;
  int64_t o_stride;
  void* y;
  WeightType y_type;
  // The mLSTM v1 block: y = (LN(h)·w + skip ⊙ c) · o·σ(o), c [T, NH·DHV] (null: σ(o) gate).
  const float* skip = nullptr;
  const float* c = nullptr;
};
// row_partials (optional, mlstm_step_partial_bytes): lets small grids (few heads, one sequence)
// split C's rows over more blocks; any content, not kept between calls.
size_t mlstm_step_sync_bytes(const CellBatch& x);
size_t mlstm_step_partial_bytes(const CellBatch& x);
void mlstm_step(const CellBatch& x, CellStateDev st, float eps, unsigned* d_sync, Stream s,
                const HeadNormGate* norm = nullptr, float* row_partials = nullptr);

// mlstm_chunkwise.cu — the chunkwise form (any S, chunk ≤ kMaxChunk; a last partial chunk is
// fine): gate prefix sums, chunk-boundary states, intra-chunk scores, outputs. tensor_cores: the
// products on bf16 tensor cores (q, k, v, scores and chunk-boundary C rounded to bf16, float32
// accumulation; gates, stabilizers, normalizers and the state stay float32), taken where the
// shape allows it (mlstm_chunkwise_uses_tensor_cores), for bf16 models; else float32 CUDA cores.
// gemm (tensor-core path, heads at least kGemmOutputsMinDim wide): the outputs as one batched
// cuBLASLt GEMM per call, h = [q̄ | S̄] / denominator · [C; v] by chunk, rather than the own outputs
// kernel (which streams wide heads in slices); with_gemm sizes the scratch for it.
inline constexpr int64_t kMaxChunk = 64;
inline constexpr int64_t kGemmOutputsMinDim = 512;
bool mlstm_chunkwise_uses_tensor_cores(const CellBatch& x, int64_t chunk, bool tensor_cores);
bool mlstm_chunkwise_gemm_outputs(const CellBatch& x, int64_t chunk,
                                  bool tensor_cores);  // given one
size_t mlstm_chunkwise_scratch_bytes(const CellBatch& x, int64_t chunk, bool tensor_cores = false,
                                     bool with_gemm = false);
void mlstm_chunkwise(const CellBatch& x, CellStateDev st, float eps, int64_t chunk, void* d_scratch,
                     Stream s, bool tensor_cores = false, Gemm* gemm = nullptr);

// sampling.cu — one token per row of logits [B, V] (float32, already soft-capped) by the rule of
// sample_token() (include/xlstm/sampler.h). d_u[b]: the row's uniform draw. The repetition penalty
// applies to d_penalty_ids[d_penalty_offsets[b] .. d_penalty_offsets[b + 1]), distinct ids.
size_t sample_scratch_bytes(int64_t B, int64_t V);
void sample_rows(const float* logits, int64_t B, int64_t V, const SamplingParams& p,
                 const double* d_u, const int32_t* d_penalty_ids, const int32_t* d_penalty_offsets,
                 void* d_scratch, int32_t* d_tokens, Stream s);

}  // namespace xlstm::cuda
