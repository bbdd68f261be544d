// The fused sLSTM recurrence (family_ops.h: slstm_recurrence). Grid: NH heads × G blocks per head,
// one launch for all S steps of up to max_batch sequences. Block (h, g) owns units
// e ∈ [g·U, (g+1)·U) of head h (U = DH / G) for all four gates: 4U rows of the head's recurrent
// matrix, kept in shared memory for the whole launch (or read from L2 when they do not fit).
// Per step: raw = R_slice · y_{t−1} for every sequence (a thread per column and part of d, all
// sequences at once; launches of few steps read the slice from L2 instead of staging it),
// the pointwise gates and state update of its units, then its y units go to an exchange buffer as
// flagged words (flagged_words.cuh: value and step in one 8-byte store, no fence or counter) and
// the block reads its head's whole y back once every word carries this step's flag; heads never
// wait on each other. Two buffers by step parity: a block can overwrite a buffer only after every
// block of its head has published the next step, i.e. finished reading this one. The launch is
// cooperative: every block is resident, so the waits cannot deadlock.
#include <vector>

#include "backend/cuda/common.cuh"
#include "backend/cuda/family_ops.h"
#include "backend/cuda/flagged_words.cuh"
#include "backend/cuda/pdl_launch.cuh"

namespace xlstm::cuda {

namespace {

struct DeviceFacts {
  int sms = 0;
  size_t smem_optin = 0;
};

DeviceFacts device_facts() {
  static const DeviceFacts facts = [] {
    DeviceFacts f;
    int dev = 0, sms = 0, smem = 0;
    XLSTM_CUDA_CHECK(cudaGetDevice(&dev));
    XLSTM_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
    XLSTM_CUDA_CHECK(cudaDeviceGetAttribute(&smem, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
    f.sms = sms;
    f.smem_optin = static_cast<size_t>(smem);
    return f;
  }();
  return facts;
}

constexpr int kThreads = 256;
// Launches of fewer steps read the recurrent slice from global memory rather than staging it.
constexpr int64_t kStageMinSteps = 8;

// Row stride of the slice in shared memory: 4U plus padding, so that the P lanes that split one
// row's dot product (d ≡ p mod P) fall in different banks.
__host__ __device__ inline int64_t slice_ld(int64_t U, size_t r_elem) {
  return 4 * U + (r_elem == 2 ? 16 : 8);
}

__host__ __device__ inline int64_t dot_parts(int64_t J, int64_t DH);

// Shared memory of one block: y_{t−1} [Bc, DH], raw [P, Bc, 4U] (the dot products' parts),
// c/n/m [Bc, U], plus the slice.
size_t smem_for(int64_t Bc, int64_t DH, int64_t U, bool smem_R, size_t r_elem) {
  const int64_t P = dot_parts(4 * U, DH);
  size_t bytes = static_cast<size_t>(Bc * DH + P * Bc * 4 * U + 3 * Bc * U) * sizeof(float);
  if (smem_R) bytes += static_cast<size_t>(DH * slice_ld(U, r_elem)) * r_elem;
  return (bytes + 15) / 16 * 16;
}

// Parts the dot products over d split into: one column per thread where the block has threads to
// spare (P · J ≤ kThreads), each part a multiple of 4 long (float4 loads of y).
__host__ __device__ inline int64_t dot_parts(int64_t J, int64_t DH) {
  int64_t P = J >= kThreads ? 1 : kThreads / J;
  while (P > 1 && DH % (4 * P) != 0) P /= 2;
  return P;
}

// out[b · ld_out] = Σ_{d < Dp} y[b, d0 + d] · col[d · ld] for b < nb ≤ NB: each slice element is
// loaded once for all the sequences, and the lanes of a warp share d (J ≥ 32), so the y loads
// are broadcasts.
template <int NB, typename TR>
__device__ inline void dot_column(const float* y, int64_t DH, const TR* col, int64_t ld, int64_t d0,
                                  int64_t Dp, int64_t nb, float* out, int64_t ld_out) {
  float acc[NB];
#pragma unroll
  for (int b = 0; b < NB; ++b) acc[b] = 0.0f;
  const float* yd = y + d0;
  int64_t d = 0;
  if ((DH % 4) == 0 && (d0 % 4) == 0) {
    for (; d + 4 <= Dp; d += 4) {
      const float r0 = load(col + d * ld), r1 = load(col + (d + 1) * ld);
      const float r2 = load(col + (d + 2) * ld), r3 = load(col + (d + 3) * ld);
#pragma unroll
      for (int b = 0; b < NB; ++b) {
        if (b < nb) {
          const float4 v = *reinterpret_cast<const float4*>(yd + b * DH + d);
          acc[b] = fmaf(v.x, r0, fmaf(v.y, r1, fmaf(v.z, r2, fmaf(v.w, r3, acc[b]))));
        }
      }
    }
  }
  for (; d < Dp; ++d) {
    const float r = load(col + d * ld);
#pragma unroll
    for (int b = 0; b < NB; ++b)
      if (b < nb) acc[b] = fmaf(yd[b * DH + d], r, acc[b]);
  }
#pragma unroll
  for (int b = 0; b < NB; ++b)
    if (b < nb) out[b * ld_out] = acc[b];
}

template <typename TR>
__global__ void __launch_bounds__(kThreads)
    slstm_kernel(SlstmRecurrence x, int G, bool smem_R, const TR* R, uint64_t* xchg) {
  extern __shared__ __align__(16) unsigned char smem[];
  const int64_t B = x.B, S = x.S, E = x.E, DH = x.DH, U = DH / G, J = 4 * U;
  const int64_t h = blockIdx.x / G, g = blockIdx.x % G;
  const int tid = threadIdx.x;
  float* y_prev = reinterpret_cast<float*>(smem);  // [B, DH]
  float* raw = y_prev + B * DH;                    // [P, B, J]
  float* cs = raw + dot_parts(J, DH) * B * J;      // [B, U]
  float* ns = cs + B * U;
  float* ms = ns + B * U;
  const TR* slice = R + (h * G + g) * DH * J;  // [DH, J] in global memory
  int64_t ld = J;
  if (smem_R) {
    TR* s_slice = reinterpret_cast<TR*>(ms + B * U);
    ld = slice_ld(U, sizeof(TR));
    for (int64_t i = tid; i < DH * J; i += kThreads) s_slice[(i / J) * ld + i % J] = slice[i];
    slice = s_slice;
  }
  for (int64_t i = tid; i < B * DH; i += kThreads) y_prev[i] = x.sy[(i / DH) * E + h * DH + i % DH];
  for (int64_t i = tid; i < B * U; i += kThreads) {
    const int64_t col = (i / U) * E + h * DH + g * U + i % U;
    cs[i] = x.sc[col];
    ns[i] = x.sn[col];
    ms[i] = x.sm[col];
  }
  const int64_t P = dot_parts(J, DH), Dp = DH / P;
  __syncthreads();
  for (int64_t t = 0; t < S; ++t) {
    // This step's input contributions for the first pointwise item, loaded before the dot
    // products so that their latency overlaps them.
    float pre[4] = {0, 0, 0, 0};
    if (tid < B * U) {
      const int64_t b = tid / U, col = h * DH + g * U + tid % U;
      const float* wif = x.wx_if + (b * S + t) * 2 * E;
      const float* wzo = x.wx_zo + (b * S + t) * 2 * E;
      pre[0] = wif[col];
      pre[1] = wif[E + col];
      pre[2] = wzo[col];
      pre[3] = wzo[E + col];
    }
    // Column c = (part, j): part `part` of the dot products y_{t−1}[b, :] · slice[:, j] of every
    // sequence b, into raw[part, b, j].
    for (int64_t c = tid; c < P * J; c += kThreads) {
      const int64_t part = c / J, j = c % J;
      if (B == 1) {
        dot_column<1>(y_prev, DH, slice + part * Dp * ld + j, ld, part * Dp, Dp, 1,
                      raw + part * B * J + j, J);
      } else if (B <= 4) {
        dot_column<4>(y_prev, DH, slice + part * Dp * ld + j, ld, part * Dp, Dp, B,
                      raw + part * B * J + j, J);
      } else {
        for (int64_t b0 = 0; b0 < B; b0 += 8)
          dot_column<8>(y_prev + b0 * DH, DH, slice + part * Dp * ld + j, ld, part * Dp, Dp,
                        B - b0 < 8 ? B - b0 : 8, raw + (part * B + b0) * J + j, J);
      }
    }
    __syncthreads();
    uint64_t* out = xchg + (t & 1) * B * E;
    const auto flag = static_cast<uint32_t>(t + 1);
    for (int64_t i = tid; i < B * U; i += kThreads) {
      const int64_t b = i / U, u = i % U, col = h * DH + g * U + u;
      float w[4];
      if (i == tid) {
        for (int k = 0; k < 4; ++k) w[k] = pre[k];
      } else {
        const float* wif = x.wx_if + (b * S + t) * 2 * E;
        const float* wzo = x.wx_zo + (b * S + t) * 2 * E;
        w[0] = wif[col], w[1] = wif[E + col], w[2] = wzo[col], w[3] = wzo[E + col];
      }
      float r[4] = {0, 0, 0, 0};
      for (int64_t part = 0; part < P; ++part) {
        const float* rr = raw + (part * B + b) * J;
        for (int k = 0; k < 4; ++k) r[k] += rr[k * U + u];
      }
      const float ri = r[0] + w[0] + x.bias[col];
      const float rf = r[1] + w[1] + x.bias[E + col];
      const float rz = r[2] + w[2] + x.bias[2 * E + col];
      const float ro = r[3] + w[3] + x.bias[3 * E + col];
      const float lfm = ms[i] + log_sigmoid(rf);
      const float m_new = ns[i] == 0.0f ? ri : fmaxf(ri, lfm);
      const float ig = fminf(expf(ri - m_new), 1.0f);
      const float fg = fminf(expf(lfm - m_new), 1.0f);
      const float c = fg * cs[i] + ig * tanhf(rz);
      const float n = fg * ns[i] + ig;
      cs[i] = c;
      ns[i] = n;
      ms[i] = m_new;
      const float y = sigmoid(ro) * c / n;
      x.y[(b * S + t) * E + col] = y;
      ll_store(out + h * B * DH + b * DH + g * U + u, __float_as_uint(y), flag);
    }
    // Every block of the head publishes its units; each reads the head's whole y back (the
    // buffer holds head h's [B, DH] words contiguously: one read for all sequences).
    ll_read<kThreads>(out + h * B * DH, B * DH, flag,
                      [&](int64_t i, uint32_t bits) { y_prev[i] = __uint_as_float(bits); });
    __syncthreads();
  }
  for (int64_t i = tid; i < B * U; i += kThreads) {
    const int64_t b = i / U, u = i % U, col = b * E + h * DH + g * U + u;
    x.sc[col] = cs[i];
    x.sn[col] = ns[i];
    x.sm[col] = ms[i];
    x.sy[col] = y_prev[b * DH + g * U + u];
  }
}

}  // namespace

SlstmPlan slstm_plan(int64_t NH, int64_t DH, WeightType r_type) {
  const DeviceFacts f = device_facts();
  const size_t elem = r_type == WeightType::BF16 ? 2 : 4;
  const size_t budget = std::min<size_t>(f.smem_optin, 200 * 1024);
  SlstmPlan p;
  // As many blocks per head as the SMs allow (one block per SM; up to 64, at least 4 units
  // each): the per-step work splits, the exchange costs about the same. The slice stays in
  // shared memory when it fits, else it is read from L2.
  p.G = 1;
  while (p.G < 64 && DH % (2 * p.G) == 0 && DH / (2 * p.G) >= 4 && NH * 2 * p.G <= f.sms) p.G *= 2;
  p.smem_R = smem_for(1, DH, DH / p.G, true, elem) <= budget;
  const int64_t U = DH / p.G;
  p.max_batch = 1;
  while (p.max_batch < 256 && smem_for(p.max_batch * 2, DH, U, p.smem_R, elem) <= budget)
    p.max_batch *= 2;
  p.smem_bytes = smem_for(p.max_batch, DH, U, p.smem_R, elem);
  // Allow the kernel this much dynamic shared memory, once per size (not a stream operation, but
  // kept out of the launches so that graph capture sees only launches).
  static size_t allowed[2] = {0, 0};
  size_t& a = allowed[r_type == WeightType::BF16 ? 1 : 0];
  if (p.smem_bytes > a) {
    if (r_type == WeightType::BF16) {
      XLSTM_CUDA_CHECK(cudaFuncSetAttribute(slstm_kernel<bf16>,
                                            cudaFuncAttributeMaxDynamicSharedMemorySize,
                                            static_cast<int>(p.smem_bytes)));
    } else {
      XLSTM_CUDA_CHECK(cudaFuncSetAttribute(slstm_kernel<float>,
                                            cudaFuncAttributeMaxDynamicSharedMemorySize,
                                            static_cast<int>(p.smem_bytes)));
    }
    a = p.smem_bytes;
  }
  p.threads = kThreads;
  return p;
}

std::vector<float> slstm_arrange_recurrent(const std::vector<float>& R, int64_t NH, int64_t DH,
                                           int G) {
  const int64_t U = DH / G;
  std::vector<float> out(R.size());
  for (int64_t h = 0; h < NH; ++h)
    for (int64_t g = 0; g < G; ++g)
      for (int64_t d = 0; d < DH; ++d)
        for (int64_t gate = 0; gate < 4; ++gate)
          for (int64_t u = 0; u < U; ++u) {
            const int64_t e = g * U + u;
            out[(((h * G + g) * DH + d) * 4 + gate) * U + u] =
                R[(h * 4 * DH + gate * DH + e) * DH + d];
          }
  return out;
}

// Scratch: the exchange buffer of flagged words [2, NH, Bc, DH] (step parity, head, sequence,
// unit).
size_t slstm_scratch_bytes(const SlstmPlan& p, int64_t, int64_t E) {
  return static_cast<size_t>(2 * p.max_batch * E) * sizeof(uint64_t);
}

void slstm_recurrence(const SlstmRecurrence& x, const SlstmPlan& p, void* d_scratch, Stream s) {
  if (x.S == 0 || x.B == 0) return;
  if (x.DH % 2 != 0) throw Error(tagged("cuda", "sLSTM head dim must be even on the GPU"));
  auto* xchg = static_cast<uint64_t*>(d_scratch);
  const int64_t U = x.DH / p.G;
  const size_t elem = x.r_type == WeightType::BF16 ? 2 : 4;
  cudaLaunchAttribute cooperative{};
  cooperative.id = cudaLaunchAttributeCooperative;
  cooperative.val.cooperative = 1;
  for (int64_t b0 = 0; b0 < x.B; b0 += p.max_batch) {
    SlstmRecurrence part = x;
    part.B = std::min<int64_t>(p.max_batch, x.B - b0);
    part.wx_if = x.wx_if + b0 * x.S * 2 * x.E;
    part.wx_zo = x.wx_zo + b0 * x.S * 2 * x.E;
    part.y = x.y + b0 * x.S * x.E;
    part.sy = x.sy + b0 * x.E;
    part.sc = x.sc + b0 * x.E;
    part.sn = x.sn + b0 * x.E;
    part.sm = x.sm + b0 * x.E;
    // Staging the slice in shared memory pays off over many steps; a decode step reads it
    // straight from global memory (L2) instead of copying it first.
    const bool stage = p.smem_R && x.S >= kStageMinSteps;
    const size_t smem = smem_for(part.B, x.DH, U, stage, elem);
    // Flags of an earlier launch must not match this one's steps.
    XLSTM_CUDA_CHECK(cudaMemsetAsync(xchg, 0, 2 * part.B * x.E * sizeof(uint64_t), s));
    const dim3 grid(static_cast<unsigned>(x.NH * p.G)), block(static_cast<unsigned>(p.threads));
    if (x.r_type == WeightType::BF16) {
      launch_with_attribute(&cooperative, slstm_kernel<bf16>, grid, block, smem, s, part, p.G,
                            stage, static_cast<const bf16*>(x.R), xchg);
    } else {
      launch_with_attribute(&cooperative, slstm_kernel<float>, grid, block, smem, s, part, p.G,
                            stage, static_cast<const float*>(x.R), xchg);
    }
  }
}

}  // namespace xlstm::cuda
