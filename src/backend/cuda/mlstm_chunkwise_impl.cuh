#pragma once
// Shared between the chunkwise paths (mlstm_chunkwise.cu: float32 CUDA cores, the parity path;
// mlstm_chunkwise_tc.cu: bf16 tensor cores; mlstm_chunkwise_tc_gemm.cu: its outputs as one
// batched GEMM for wide heads): the scratch layout and the gate pass they all use.
#include "backend/cuda/common.cuh"
#include "backend/cuda/gemm.h"
#include "backend/cuda/ops.h"

namespace xlstm::cuda::chunkwise {

// Scratch of one call, carved from d_scratch (256-byte aligned pieces). Pieces a path does not
// use are left out (null): the float32 path's C/S/qs/denom, the tensor-core paths' C16 (with
// room for v below each chunk's C on the batched-GEMM path) and that path's lhs/hc (and kw16
// where its states take the wide pass).
struct ChunkScratch {
  double* bcum;   // [BH, S] inclusive in-chunk cumsum of log σ(f̃)
  double* amax;   // [BH, NC] max_l (g − b_l + ĩ_l)
  double* mnext;  // [BH, NC + 1] m after chunk c at c + 1 (unrounded); [0] = m before the call
  float* Cbuf;    // [BH, NC, DHQK, DHV] C before each chunk (float32 path)
  bf16* C16;      // [BH, NC, DHQK, DHV] C before each chunk (tensor-core path)
  float* nbuf;    // [BH, NC, DHQK] n before each chunk
  float* Smat;    // [BH, NC, L, L] intra-chunk scores (float32 path)
  float* qs;      // [BH, S] scale of q̄_l (float32 path)
  float* denom;   // [BH, S] max(|q̄·n + Σ S|, exp(−m_comb)) + eps (float32 path)
  bf16* lhs;   // [BH, NC, TL, DHQK + TL] the outputs GEMM's A = [q̄ | S̄] / denom (gemm outputs)
  float* hc;   // [BH, NC, TL, DHV] the outputs GEMM's result, by chunk (gemm outputs)
  bf16* kw16;  // [BH, NC, TL, DHQK] k ⊙ w by chunk, zero past it (gemm outputs, wide states)
};

// The path a call takes: float32 CUDA cores, tensor-core passes, or tensor-core states with the
// outputs as one batched GEMM (heads of at least kGemmOutputsMinDim, a Gemm given).
enum class ChunkPath { F32, TensorCores, TensorCoresGemm };

// Lays the scratch out over base (nullptr: only measure); *total receives the bytes.
ChunkScratch carve(const CellBatch& x, int64_t L, ChunkPath path, void* base, size_t* total);

// Pass 1 of both paths: per (b, head) the in-chunk cumsums, the per-chunk maxima and the
// stabilizer before every chunk; advances m_state.
void launch_gates(const CellBatch& x, int64_t L, int64_t NC, float* m_state, const ChunkScratch& sc,
                  Stream s);

// The tensor-core passes (mlstm_chunkwise_tc.cu).
size_t max_dynamic_smem();  // the device's opt-in shared memory per block
bool tc_supported(const CellBatch& x, int64_t L);
void launch_tc(const CellBatch& x, int64_t L, int64_t NC, CellStateDev st, float eps,
               const ChunkScratch& sc, Stream s);
// The states pass alone; each chunk's C takes chunk_rows rows of sc.C16 (DHQK + TL: [C; v]).
void launch_tc_states(const CellBatch& x, int64_t L, int64_t NC, CellStateDev st,
                      const ChunkScratch& sc, int64_t chunk_rows, Stream s);
// The states pass of the batched-GEMM path for head dims that are multiples of 128
// (mlstm_chunkwise_tc_wide.cu): a prep launch (bf16 k ⊙ w, v into [C; v], n) and 128×128 tiles.
bool wide_states_supported(const CellBatch& x);
void launch_wide_states(const CellBatch& x, int64_t L, int64_t NC, CellStateDev st,
                        const ChunkScratch& sc, int64_t chunk_rows, Stream s);
// The outputs as one batched GEMM (mlstm_chunkwise_tc_gemm.cu), after launch_wide_states or
// launch_tc_states with chunk_rows = DHQK + TL.
void launch_tc_gemm_outputs(const CellBatch& x, int64_t L, int64_t NC, float eps,
                            const ChunkScratch& sc, Gemm& gemm, Stream s);

__device__ __forceinline__ int64_t token_row(const CellBatch& x, int64_t bh, int64_t s) {
  return (bh / x.NH) * x.S + s;
}

}  // namespace xlstm::cuda::chunkwise
