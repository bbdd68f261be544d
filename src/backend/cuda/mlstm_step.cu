// The mLSTM recurrent step (spec §1.5, §2.1) for a batch, in two launches per token:
//   1. per (b, head): gates, stabilizer m, normalizer n (in place) and the denominator;
//   2. per (b, head, 32 columns of C): C = f'·C + i'·k vᵀ in place and h = (q̂ᵀC) / denominator.
// Float32 throughout, the CPU's mlstm_step_sequence operation by operation (sums may associate
// differently). The split keeps n's update out of the column blocks, which all read it.
#include "backend/cuda/common.cuh"
#include "backend/cuda/ops.h"

namespace xlstm::cuda {

namespace {

struct StepCoef {
  float f_act, i_act, denom;
};

__global__ void step_gates_kernel(CellBatch x, int64_t t, float* n, float* m, StepCoef* coef,
                                  float eps) {
  const int64_t bh = blockIdx.x, b = bh / x.NH, h = bh % x.NH, row = b * x.S + t;
  const float* q = x.q.p + row * x.q.stride + h * x.DHQK;
  const float* k = x.k.p + row * x.k.stride + h * x.DHQK;
  float i_pre = x.igate.p[row * x.igate.stride + h];
  float f_pre = x.fgate.p[row * x.fgate.stride + h];
  if (x.gate_cap > 0.0f) {
    i_pre = x.gate_cap * tanhf(i_pre / x.gate_cap);
    f_pre = x.gate_cap * tanhf(f_pre / x.gate_cap);
  }
  const float lf = log_sigmoid(f_pre);
  const float m_prev = m[bh];
  const float m_new = fmaxf(lf + m_prev, i_pre);
  const float f_act = expf(lf + m_prev - m_new);
  const float i_act = expf(i_pre - m_new);
  const float scale = 1.0f / sqrtf(static_cast<float>(x.DHQK));
  float* nr = n + bh * x.DHQK;
  float qn = 0.0f;
  for (int64_t a = threadIdx.x; a < x.DHQK; a += blockDim.x) {
    const float nv = f_act * nr[a] + i_act * k[a];
    nr[a] = nv;
    qn += (q[a] * scale) * nv;
  }
  qn = block_sum(qn);
  if (threadIdx.x == 0) {
    m[bh] = m_new;
    coef[bh] = {f_act, i_act, fmaxf(fabsf(qn), expf(-m_new)) + eps};
  }
}

constexpr int kCols = 32, kRowGroups = 8, kBatchRows = 16;

// Each thread walks its column's rows kBatchRows at a time, issuing every load of a batch (C, k,
// q) before the first store: the state's read-modify-write then streams at memory speed.
__global__ void step_state_kernel(CellBatch x, int64_t t, float* __restrict__ C,
                                  const StepCoef* __restrict__ coef) {
  __shared__ float partial[kRowGroups][kCols + 1];
  const int64_t bh = blockIdx.x, b = bh / x.NH, h = bh % x.NH, row = b * x.S + t;
  const int64_t d = blockIdx.y * kCols + threadIdx.x;
  const StepCoef cf = coef[bh];
  const float* q = x.q.p + row * x.q.stride + h * x.DHQK;
  const float* k = x.k.p + row * x.k.stride + h * x.DHQK;
  const float scale = 1.0f / sqrtf(static_cast<float>(x.DHQK));
  float acc = 0.0f;
  if (d < x.DHV) {
    const float vd = x.v.p[row * x.v.stride + h * x.DHV + d];
    float* Cb = C + bh * x.DHQK * x.DHV + d;
    for (int64_t a0 = threadIdx.y; a0 < x.DHQK; a0 += kRowGroups * kBatchRows) {
      float cv[kBatchRows], kv[kBatchRows], qv[kBatchRows];
#pragma unroll
      for (int i = 0; i < kBatchRows; ++i) {
        const int64_t a = a0 + i * kRowGroups;
        const bool in = a < x.DHQK;
        cv[i] = in ? Cb[a * x.DHV] : 0.0f;
        kv[i] = in ? k[a] : 0.0f;
        qv[i] = in ? q[a] : 0.0f;
      }
#pragma unroll
      for (int i = 0; i < kBatchRows; ++i) {
        const int64_t a = a0 + i * kRowGroups;
        if (a >= x.DHQK) break;
        const float c = cf.f_act * cv[i] + (cf.i_act * kv[i]) * vd;
        Cb[a * x.DHV] = c;
        acc += (qv[i] * scale) * c;
      }
    }
  }
  partial[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && d < x.DHV) {
    float sum = 0.0f;
    for (int g = 0; g < kRowGroups; ++g) sum += partial[g][threadIdx.x];
    x.h[row * x.h_stride + h * x.DHV + d] = sum / cf.denom;
  }
}

// The same with 16-byte accesses: a thread owns 4 adjacent columns (a block 128), for DHV % 4 == 0
// and aligned rows; fewer, wider memory instructions for the batch decode's state traffic.
__global__ void step_state_vec4_kernel(CellBatch x, int64_t t, float* __restrict__ C,
                                       const StepCoef* __restrict__ coef) {
  __shared__ float4 partial[kRowGroups][kCols];
  const int64_t bh = blockIdx.x, b = bh / x.NH, h = bh % x.NH, row = b * x.S + t;
  const int64_t d = (blockIdx.y * kCols + threadIdx.x) * 4;
  const StepCoef cf = coef[bh];
  const float* q = x.q.p + row * x.q.stride + h * x.DHQK;
  const float* k = x.k.p + row * x.k.stride + h * x.DHQK;
  const float scale = 1.0f / sqrtf(static_cast<float>(x.DHQK));
  constexpr int kVecRows = 8;
  float4 acc = make_float4(0, 0, 0, 0);
  if (d < x.DHV) {
    const float4 vd = *reinterpret_cast<const float4*>(x.v.p + row * x.v.stride + h * x.DHV + d);
    float* Cb = C + bh * x.DHQK * x.DHV + d;
    for (int64_t a0 = threadIdx.y; a0 < x.DHQK; a0 += kRowGroups * kVecRows) {
      float4 cv[kVecRows];
      float kv[kVecRows], qv[kVecRows];
#pragma unroll
      for (int i = 0; i < kVecRows; ++i) {
        const int64_t a = a0 + i * kRowGroups;
        const bool in = a < x.DHQK;
        cv[i] = in ? *reinterpret_cast<const float4*>(Cb + a * x.DHV) : make_float4(0, 0, 0, 0);
        kv[i] = in ? k[a] : 0.0f;
        qv[i] = in ? q[a] : 0.0f;
      }
#pragma unroll
      for (int i = 0; i < kVecRows; ++i) {
        const int64_t a = a0 + i * kRowGroups;
        if (a >= x.DHQK) break;
        const float ik = cf.i_act * kv[i], qs = qv[i] * scale;
        float4 c;
        c.x = cf.f_act * cv[i].x + ik * vd.x;
        c.y = cf.f_act * cv[i].y + ik * vd.y;
        c.z = cf.f_act * cv[i].z + ik * vd.z;
        c.w = cf.f_act * cv[i].w + ik * vd.w;
        *reinterpret_cast<float4*>(Cb + a * x.DHV) = c;
        acc.x += qs * c.x, acc.y += qs * c.y, acc.z += qs * c.z, acc.w += qs * c.w;
      }
    }
  }
  partial[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && d < x.DHV) {
    float4 sum = make_float4(0, 0, 0, 0);
    for (int g = 0; g < kRowGroups; ++g) {
      const float4 p = partial[g][threadIdx.x];
      sum.x += p.x, sum.y += p.y, sum.z += p.z, sum.w += p.w;
    }
    const float den = cf.denom;
    *reinterpret_cast<float4*>(x.h + row * x.h_stride + h * x.DHV + d) =
        make_float4(sum.x / den, sum.y / den, sum.z / den, sum.w / den);
  }
}

bool vec4_ok(const CellBatch& x, const float* C) {
  auto al = [](const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; };
  return x.DHV % 4 == 0 && x.v.stride % 4 == 0 && x.h_stride % 4 == 0 && al(x.v.p) && al(x.h) &&
         al(C);
}

}  // namespace

size_t mlstm_step_scratch_bytes(const CellBatch& x) {
  return static_cast<size_t>(x.B * x.NH) * sizeof(StepCoef);
}

void mlstm_step(const CellBatch& x, CellStateDev st, float eps, void* d_scratch, Stream s) {
  const auto BH = static_cast<unsigned>(x.B * x.NH);
  if (BH == 0) return;
  auto* coef = static_cast<StepCoef*>(d_scratch);
  // 16-byte accesses need 4× fewer blocks; at small batches the scalar kernel's wider grid wins.
  const bool vec4 = vec4_ok(x, st.C) && BH * blocks_for(x.DHV, 4 * kCols) >= 512;
  const dim3 grid(BH, blocks_for(x.DHV, vec4 ? 4 * kCols : kCols)), block(kCols, kRowGroups);
  for (int64_t t = 0; t < x.S; ++t) {
    step_gates_kernel<<<BH, 128, 0, s>>>(x, t, st.n, st.m, coef, eps);
    XLSTM_CUDA_CHECK_LAUNCH();
    if (vec4) {
      step_state_vec4_kernel<<<grid, block, 0, s>>>(x, t, st.C, coef);
    } else {
      step_state_kernel<<<grid, block, 0, s>>>(x, t, st.C, coef);
    }
    XLSTM_CUDA_CHECK_LAUNCH();
  }
}

}  // namespace xlstm::cuda
