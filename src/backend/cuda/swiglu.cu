// SwiGLU of the feed-forward block (spec §1.4): act = SiLU(gate) · up, float32 arithmetic. The
// gate | up rows come as float32 or (bf16 prefill GEMM output) bf16. A block row per token row
// (no per-element division), four adjacent columns per thread with vector accesses when F % 4 == 0.
#include "backend/cuda/common.cuh"
#include "backend/cuda/ops.h"

namespace xlstm::cuda {

namespace {

template <typename In, typename Out, bool kVec>
__global__ void swiglu_kernel(const In* gate_up, int64_t T_, int64_t F, Out* act) {
  allow_dependent_launch();  // the next GEMV may start streaming its weights
  for (int64_t t = blockIdx.y; t < T_; t += gridDim.y) {
    const In* g = gate_up + t * 2 * F;
    const In* u = g + F;
    Out* a = act + t * F;
    const int64_t j0 =
        (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) * (kVec ? 4 : 1);
    if (j0 >= F) continue;
    if constexpr (kVec) {
      const float4 gv = load4(g + j0), uv = load4(u + j0);
      store4(a + j0, make_float4(gv.x * sigmoid(gv.x) * uv.x, gv.y * sigmoid(gv.y) * uv.y,
                                 gv.z * sigmoid(gv.z) * uv.z, gv.w * sigmoid(gv.w) * uv.w));
    } else {
      const float gj = load(g + j0);
      store(a + j0, gj * sigmoid(gj) * load(u + j0));
    }
  }
}

template <typename In, typename Out>
void launch_swiglu(const In* gate_up, int64_t T, int64_t F, Out* act, Stream s) {
  const bool vec = F % 4 == 0 && aligned16(gate_up) && aligned16(act);
  constexpr int kThreads = 256;
  const dim3 grid(blocks_for(vec ? (F + 3) / 4 : F, kThreads),
                  static_cast<unsigned>(std::min<int64_t>(T, 65535)));
  if (vec) {
    swiglu_kernel<In, Out, true><<<grid, kThreads, 0, s>>>(gate_up, T, F, act);
  } else {
    swiglu_kernel<In, Out, false><<<grid, kThreads, 0, s>>>(gate_up, T, F, act);
  }
  XLSTM_CUDA_CHECK_LAUNCH();
}

template <typename In>
void swiglu_to(const In* gate_up, int64_t T, int64_t F, void* act, WeightType act_type, Stream s) {
  if (T * F == 0) return;
  if (act_type == WeightType::BF16) {
    launch_swiglu(gate_up, T, F, static_cast<bf16*>(act), s);
  } else {
    launch_swiglu(gate_up, T, F, static_cast<float*>(act), s);
  }
}

}  // namespace

void swiglu(const float* gate_up, int64_t T, int64_t F, void* act, WeightType act_type, Stream s) {
  swiglu_to(gate_up, T, F, act, act_type, s);
}

void swiglu_bf16_in(const void* gate_up, int64_t T, int64_t F, void* act, WeightType act_type,
                    Stream s) {
  swiglu_to(static_cast<const bf16*>(gate_up), T, F, act, act_type, s);
}

}  // namespace xlstm::cuda
