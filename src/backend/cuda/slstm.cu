// The fused sLSTM recurrence (family_ops.h: slstm_recurrence). Grid: NH heads × G blocks per head,
// one launch for all S steps of up to max_batch sequences. Block (h, g) owns units
// e ∈ [g·U, (g+1)·U) of head h (U = DH / G) for all four gates: 4U rows of the head's recurrent
// matrix, kept in shared memory for the whole launch (or read from L2 when they do not fit).
// Per step: raw = R_slice · y_{t−1} for every sequence, the pointwise gates and state update of
// its units, then its y units go to an exchange buffer in global memory and the block waits on a
// per-head counter until all G blocks of the head have published the step; heads never wait on
// each other. The launch is cooperative: every block is resident, so the waits cannot deadlock.
#include <vector>

#include "backend/cuda/common.cuh"
#include "backend/cuda/family_ops.h"
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

// Shared memory of one block: y_{t−1} [Bc, DH], raw [Bc, 4U], c/n/m [Bc, U], plus the slice.
size_t smem_for(int64_t Bc, int64_t DH, int64_t U, bool smem_R, size_t r_elem) {
  size_t bytes = static_cast<size_t>(Bc * DH + Bc * 4 * U + 3 * Bc * U) * sizeof(float);
  if (smem_R) bytes += static_cast<size_t>(DH * 4 * U) * r_elem;
  return (bytes + 15) / 16 * 16;
}

template <typename TR>
__global__ void __launch_bounds__(256) slstm_kernel(SlstmRecurrence x, int G, bool smem_R,
                                                    const TR* R, float* xchg, unsigned* counters) {
  extern __shared__ __align__(16) unsigned char smem[];
  const int64_t B = x.B, S = x.S, E = x.E, DH = x.DH, U = DH / G;
  const int64_t h = blockIdx.x / G, g = blockIdx.x % G;
  const int tid = threadIdx.x, nt = blockDim.x;
  float* y_prev = reinterpret_cast<float*>(smem);  // [B, DH]
  float* raw = y_prev + B * DH;                    // [B, 4U]
  float* cs = raw + B * 4 * U;                     // [B, U]
  float* ns = cs + B * U;
  float* ms = ns + B * U;
  const TR* slice = R + (h * G + g) * DH * 4 * U;  // [DH, 4U]
  if (smem_R) {
    TR* s_slice = reinterpret_cast<TR*>(ms + B * U);
    for (int64_t i = tid; i < DH * 4 * U; i += nt) s_slice[i] = slice[i];
    slice = s_slice;
  }
  for (int64_t i = tid; i < B * DH; i += nt) y_prev[i] = x.sy[(i / DH) * E + h * DH + i % DH];
  for (int64_t i = tid; i < B * U; i += nt) {
    const int64_t col = (i / U) * E + h * DH + g * U + i % U;
    cs[i] = x.sc[col];
    ns[i] = x.sn[col];
    ms[i] = x.sm[col];
  }
  __syncthreads();
  for (int64_t t = 0; t < S; ++t) {
    // raw[b, j] = Σ_d y_{t−1}[b, d] · slice[d, j]
    for (int64_t i = tid; i < B * 4 * U; i += nt) {
      const int64_t b = i / (4 * U), j = i % (4 * U);
      const float* yb = y_prev + b * DH;
      float acc = 0.0f;
      for (int64_t d = 0; d < DH; ++d) acc += yb[d] * load(slice + d * 4 * U + j);
      raw[i] = acc;
    }
    __syncthreads();
    float* out = xchg + (t & 1) * B * E;
    for (int64_t i = tid; i < B * U; i += nt) {
      const int64_t b = i / U, u = i % U, col = h * DH + g * U + u;
      const float* wif = x.wx_if + (b * S + t) * 2 * E;
      const float* wzo = x.wx_zo + (b * S + t) * 2 * E;
      const float* r = raw + b * 4 * U;
      const float ri = r[u] + wif[col] + x.bias[col];
      const float rf = r[U + u] + wif[E + col] + x.bias[E + col];
      const float rz = r[2 * U + u] + wzo[col] + x.bias[2 * E + col];
      const float ro = r[3 * U + u] + wzo[E + col] + x.bias[3 * E + col];
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
      out[b * E + col] = y;
    }
    __threadfence();
    __syncthreads();
    if (tid == 0) {
      atomicAdd(counters + h, 1u);
      const unsigned target = static_cast<unsigned>(G * (t + 1));
      while (atomicAdd(counters + h, 0u) < target) {
      }
      __threadfence();
    }
    __syncthreads();
    for (int64_t i = tid; i < B * DH; i += nt)
      y_prev[i] = __ldcg(out + (i / DH) * E + h * DH + i % DH);
    __syncthreads();
  }
  for (int64_t i = tid; i < B * U; i += nt) {
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
  p.threads = static_cast<int>(std::clamp<int64_t>((4 * U + 31) / 32 * 32, 64, 256));
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

// Scratch: the per-head counters (a 256-byte multiple), then the exchange buffer [2, Bc, E].
size_t counter_bytes(int64_t NH) {
  return static_cast<size_t>((NH * sizeof(unsigned) + 255) / 256 * 256);
}

size_t slstm_scratch_bytes(const SlstmPlan& p, int64_t NH, int64_t E) {
  return counter_bytes(NH) + static_cast<size_t>(2 * p.max_batch * E) * sizeof(float);
}

void slstm_recurrence(const SlstmRecurrence& x, const SlstmPlan& p, void* d_scratch, Stream s) {
  if (x.S == 0 || x.B == 0) return;
  auto* counters = static_cast<unsigned*>(d_scratch);
  auto* xchg = reinterpret_cast<float*>(static_cast<char*>(d_scratch) + counter_bytes(x.NH));
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
    XLSTM_CUDA_CHECK(cudaMemsetAsync(counters, 0, x.NH * sizeof(unsigned), s));
    const dim3 grid(static_cast<unsigned>(x.NH * p.G)), block(static_cast<unsigned>(p.threads));
    if (x.r_type == WeightType::BF16) {
      launch_with_attribute(&cooperative, slstm_kernel<bf16>, grid, block, smem, s, part, p.G,
                            p.smem_R, static_cast<const bf16*>(x.R), xchg, counters);
    } else {
      launch_with_attribute(&cooperative, slstm_kernel<float>, grid, block, smem, s, part, p.G,
                            p.smem_R, static_cast<const float*>(x.R), xchg, counters);
    }
  }
}

}  // namespace xlstm::cuda
