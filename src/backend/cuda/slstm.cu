// The fused sLSTM recurrence (family_ops.h: slstm_recurrence). Grid: NH heads × G blocks per head,
// one launch for all S steps of up to max_batch sequences. Block (h, g) owns units
// e ∈ [g·U, (g+1)·U) of head h (U = DH / G) for all four gates: 4U rows of the head's recurrent
// matrix, kept in shared memory for the whole launch (or read from L2 when they do not fit).
// Per step: raw = R_slice · y_{t−1} for every sequence (each dot product split over a few lanes),
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

// Row stride of the slice in shared memory: 4U plus padding, so that the P lanes that split one
// row's dot product (d ≡ p mod P) fall in different banks.
__host__ __device__ inline int64_t slice_ld(int64_t U, size_t r_elem) {
  return 4 * U + (r_elem == 2 ? 16 : 8);
}

// Shared memory of one block: y_{t−1} [Bc, DH], raw [Bc, 4U], c/n/m [Bc, U], plus the slice.
size_t smem_for(int64_t Bc, int64_t DH, int64_t U, bool smem_R, size_t r_elem) {
  size_t bytes = static_cast<size_t>(Bc * DH + Bc * 4 * U + 3 * Bc * U) * sizeof(float);
  if (smem_R) bytes += static_cast<size_t>(DH * slice_ld(U, r_elem)) * r_elem;
  return (bytes + 15) / 16 * 16;
}

template <typename TR>
__global__ void __launch_bounds__(kThreads)
    slstm_kernel(SlstmRecurrence x, int G, bool smem_R, const TR* R, uint64_t* xchg) {
  extern __shared__ __align__(16) unsigned char smem[];
  const int64_t B = x.B, S = x.S, E = x.E, DH = x.DH, U = DH / G, J = 4 * U;
  const int64_t h = blockIdx.x / G, g = blockIdx.x % G;
  const int tid = threadIdx.x;
  float* y_prev = reinterpret_cast<float*>(smem);  // [B, DH]
  float* raw = y_prev + B * DH;                    // [B, J]
  float* cs = raw + B * J;                         // [B, U]
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
  // The dot products: item (b, j) split over P consecutive lanes (d ≡ part mod P).
  const int64_t items = B * J;
  int P = 1;
  while (P < 8 && items * P * 2 <= kThreads) P *= 2;
  const int part = tid % P;
  const int64_t per_round = kThreads / P, rounds = (items + per_round - 1) / per_round;
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
    for (int64_t r = 0; r < rounds; ++r) {
      const int64_t item = tid / P + r * per_round;
      float acc = 0.0f;
      if (item < items) {
        const int64_t b = item / J, j = item % J;
        const float* yb = y_prev + b * DH;
        for (int64_t d = part; d < DH; d += P) acc += yb[d] * load(slice + d * ld + j);
      }
      for (int o = P / 2; o > 0; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
      if (item < items && part == 0) raw[item] = acc;
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
      const float* rr = raw + b * J;
      const float ri = rr[u] + w[0] + x.bias[col];
      const float rf = rr[U + u] + w[1] + x.bias[E + col];
      const float rz = rr[2 * U + u] + w[2] + x.bias[2 * E + col];
      const float ro = rr[3 * U + u] + w[3] + x.bias[3 * E + col];
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
      ll_store(out + b * E + col, __float_as_uint(y), flag);
    }
    // Every block of the head publishes its units; each reads the head's whole y back.
    for (int64_t b = 0; b < B; ++b) {
      ll_read<kThreads>(out + b * E + h * DH, DH, flag, [&](int64_t i, uint32_t bits) {
        y_prev[b * DH + i] = __uint_as_float(bits);
      });
    }
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
  // The fewest blocks per head whose slice fits on chip with one sequence, one block per SM.
  for (int G = 1; G <= DH && NH * G <= f.sms; G *= 2) {
    if (DH % G != 0) break;
    if (smem_for(1, DH, DH / G, true, elem) <= budget) {
      p.G = G;
      p.smem_R = true;
      break;
    }
  }
  if (!p.smem_R) {  // read the slice from L2: as many blocks as the SMs allow
    p.G = 1;
    while (DH % (2 * p.G) == 0 && NH * 2 * p.G <= f.sms) p.G *= 2;
  }
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

// Scratch: the exchange buffer of flagged words [2, Bc, E] (step parity, sequence, unit).
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
    const size_t smem = smem_for(part.B, x.DH, U, p.smem_R, elem);
    // Flags of an earlier launch must not match this one's steps.
    XLSTM_CUDA_CHECK(cudaMemsetAsync(xchg, 0, 2 * part.B * x.E * sizeof(uint64_t), s));
    const dim3 grid(static_cast<unsigned>(x.NH * p.G)), block(static_cast<unsigned>(p.threads));
    if (x.r_type == WeightType::BF16) {
      launch_with_attribute(&cooperative, slstm_kernel<bf16>, grid, block, smem, s, part, p.G,
                            p.smem_R, static_cast<const bf16*>(x.R), xchg);
    } else {
      launch_with_attribute(&cooperative, slstm_kernel<float>, grid, block, smem, s, part, p.G,
                            p.smem_R, static_cast<const float*>(x.R), xchg);
    }
  }
}

}  // namespace xlstm::cuda
