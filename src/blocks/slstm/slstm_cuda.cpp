// The "slstm" block's CUDA forward: the four headwise gate projections as two dense GEMMs over
// block-diagonal matrices (i | f from the convolved input, z | o from the normed one: cuBLASLt's
// speed for NH× the multiply-adds; a decode step's few rows of a bf16 model take a headwise GEMV
// that streams only the heads' weights), the fused recurrence kernel (slstm.cu), group norm into
// the residual, the gated feed-forward.
#include "backend/cuda/cuda_block.h"
#include "backend/cuda/family_ops.h"
#include "backend/cuda/ops.h"
#include "blocks/slstm/slstm_weights.h"
#include "blocks/v1_common/v1_common.h"
#include "core/env_settings.h"

namespace xlstm {

namespace {

using cuda::DeviceBuffer;

// Two headwise weights [NH, DH, DH] as one dense block-diagonal [2E, E] matrix.
std::vector<float> block_diagonal(const std::vector<float>& a, const std::vector<float>& b,
                                  int64_t NH, int64_t DH) {
  const int64_t E = NH * DH;
  std::vector<float> out(static_cast<size_t>(2 * E * E), 0.0f);
  for (int64_t part = 0; part < 2; ++part) {
    const auto& w = part == 0 ? a : b;
    for (int64_t h = 0; h < NH; ++h)
      for (int64_t o = 0; o < DH; ++o)
        for (int64_t d = 0; d < DH; ++d)
          out[(part * E + h * DH + o) * E + h * DH + d] = w[(h * DH + o) * DH + d];
  }
  return out;
}

// Two headwise weights [NH, DH, DH] side by side, [2, NH, DH, DH], for the decode steps'
// headwise GEMV (bf16 models with DH % 8 = 0; none otherwise: the dense GEMMs throughout).
DeviceBuffer headwise_pair(const std::vector<float>& a, const std::vector<float>& b, WeightType wt,
                           int64_t DH) {
  if (wt != WeightType::BF16 || DH % 8 != 0) return {};
  std::vector<float> both(a);
  both.insert(both.end(), b.begin(), b.end());
  return cuda::upload_matrix(both, wt);
}

class SlstmCudaBlock final : public cuda::CudaBlock {
 public:
  SlstmCudaBlock(const SlstmConfig& c, const SlstmWeights& w, WeightType wt)
      : c_(c),
        plan_(cuda::slstm_plan(c.num_heads, c.head_dim(), wt)),
        norm_(cuda::upload_floats(w.norm)),
        conv_w_(cuda::upload_floats(w.conv_w)),
        conv_b_(cuda::upload_floats(w.conv_b)),
        w_if_(cuda::upload_matrix(block_diagonal(w.wi, w.wf, c.num_heads, c.head_dim()), wt)),
        w_zo_(cuda::upload_matrix(block_diagonal(w.wz, w.wo, c.num_heads, c.head_dim()), wt)),
        w_if_heads_(headwise_pair(w.wi, w.wf, wt, c.head_dim())),
        w_zo_heads_(headwise_pair(w.wz, w.wo, wt, c.head_dim())),
        R_rows_(wt == WeightType::BF16 && c.head_dim() % 8 == 0 ? cuda::upload_matrix(w.R, wt)
                                                                : DeviceBuffer()),
        R_(cuda::upload_matrix(
            cuda::slstm_arrange_recurrent(w.R, c.num_heads, c.head_dim(), plan_.G), wt)),
        R_frag_(plan_.tensor_cores ? cuda::upload_matrix(cuda::slstm_arrange_fragments(
                                                             w.R, c.num_heads, c.head_dim(), plan_),
                                                         WeightType::BF16)
                                   : DeviceBuffer()),
        bias_(cuda::upload_floats(w.bias)),
        group_norm_(cuda::upload_floats(w.group_norm)),
        ffn_norm_(cuda::upload_floats(w.ffn_norm)),
        ffn_up_(cuda::upload_matrix(w.ffn_up, wt)),
        ffn_up_b_(cuda::upload_floats(w.ffn_up_b)),
        ffn_down_(cuda::upload_matrix(w.ffn_down, wt)),
        ffn_down_b_(cuda::upload_floats(w.ffn_down_b)) {}

  size_t weight_bytes() const override {
    return w_if_.bytes() + w_zo_.bytes() + w_if_heads_.bytes() + w_zo_heads_.bytes() +
           R_rows_.bytes() + R_.bytes() + R_frag_.bytes() + ffn_up_.bytes() + ffn_down_.bytes();
  }

  void forward(float* x, int64_t B, int64_t S, const cuda::DeviceBlockState& st, const RunOptions&,
               cuda::CudaContext& ctx) override {
    const int64_t E = c_.embedding_dim, NH = c_.num_heads, DH = c_.head_dim(), T = B * S;
    const auto eps = static_cast<float>(v1::kNormEps);
    const WeightType wt = ctx.wt;
    cuda::Stream s = ctx.stream;
    auto f = [](const DeviceBuffer& b) { return b.bytes() ? b.as<float>() : nullptr; };

    // GEMM operands in the weight type: u = LayerNorm(x)·w and xc = SiLU(conv(u)) (or u).
    const void* u_w = nullptr;
    const void* xc_w = nullptr;
    if (wt == WeightType::BF16 && S == 1 && c_.conv_kernel > 0) {  // decode: one launch
      void* a = ctx.ws.typed("u_w", T * E, wt);
      void* b = ctx.ws.typed("xc_w", T * E, wt);
      if (cuda::slstm_step_inputs(x, T, E, f(norm_), eps, f(conv_w_), f(conv_b_), c_.conv_kernel,
                                  st["conv"], a, b, s))
        u_w = a, xc_w = b;
    }
    if (u_w == nullptr) {
      float* u = ctx.ws.f32("u32", T * E);
      cuda::group_layer_norm(x, T, 1, E, E, f(norm_), eps, u, WeightType::F32, false, s);
      const float* xc = u;
      if (c_.conv_kernel > 0) {
        float* conv = ctx.ws.f32("conv", T * E);
        cuda::causal_conv1d(u, E, B, S, E, f(conv_w_), f(conv_b_), c_.conv_kernel, st["conv"], conv,
                            true, s);
        xc = conv;
      }
      u_w = u, xc_w = xc;
      if (wt == WeightType::BF16) {
        void* a = ctx.ws.typed("u_w", T * E, wt);
        cuda::copy_rows(u, T, E, E, a, wt, s);
        u_w = a;
        if (xc != u) {
          void* b = ctx.ws.typed("xc_w", T * E, wt);
          cuda::copy_rows(xc, T, E, E, b, wt, s);
          xc_w = b;
        } else {
          xc_w = a;
        }
      }
    }
    float* wx_if = ctx.ws.f32("wx_if", T * 2 * E);
    float* wx_zo = ctx.ws.f32("wx_zo", T * 2 * E);
    float* y = ctx.ws.f32("y", T * E);
    const cuda::SlstmRecurrence rec{
        B,  S, E,       NH,      DH,      wx_if,  wx_zo, f(bias_), R_.get(), R_frag_.get(),
        wt, y, st["y"], st["c"], st["n"], st["m"]};
    // A decode step of a few sequences: no exchange between blocks needed, and the headwise gate
    // projections in the same launch (slstm_step_projected) unless XLSTM_SLSTM_STEP=split.
    const bool one_step = wt == WeightType::BF16 && S == 1 && B <= cuda::kHeadwiseMaxRows;
    auto* counter =
        one_step ? static_cast<unsigned*>(ctx.ws.get("slstm_step_counter", 4)) : nullptr;
    if (!one_step || !projected_step_ ||
        !cuda::slstm_step_projected(
            rec, R_rows_.get(), {xc_w, u_w, w_if_heads_.get(), w_zo_heads_.get()}, counter, s)) {
      // A decode step's rows: the headwise weights alone (no block-diagonal zeros to stream).
      const bool few_rows = wt == WeightType::BF16 && T <= cuda::kHeadwiseMaxRows;
      if (!few_rows || !cuda::headwise_pair_gemv(xc_w, T, NH, DH, w_if_heads_.get(), wx_if, s))
        ctx.gemm.linear(xc_w, T, E, w_if_.get(), 2 * E, wt, nullptr, wx_if, false, s);
      if (!few_rows || !cuda::headwise_pair_gemv(u_w, T, NH, DH, w_zo_heads_.get(), wx_zo, s))
        ctx.gemm.linear(u_w, T, E, w_zo_.get(), 2 * E, wt, nullptr, wx_zo, false, s);
      if (!one_step || !cuda::slstm_step(rec, R_rows_.get(), s)) {
        cuda::slstm_recurrence(
            rec, plan_,
            ctx.ws.get("slstm_scratch",
                       static_cast<int64_t>(cuda::slstm_scratch_bytes(plan_, NH, E))),
            s);
      }
    }
    cuda::group_layer_norm(y, T, NH, DH, E, f(group_norm_), eps, x, WeightType::F32, true, s);
    if (!c_.has_ffn) return;
    const int64_t F = c_.ffn_dim;
    void* un = ctx.ws.typed("u", T * E, wt);
    cuda::group_layer_norm(x, T, 1, E, E, f(ffn_norm_), eps, un, wt, false, s);
    float* up = ctx.ws.f32("up", T * 2 * F);
    ctx.gemm.linear(un, T, E, ffn_up_.get(), 2 * F, wt, f(ffn_up_b_), up, false, s);
    void* act = ctx.ws.typed("act", T * F, wt);
    cuda::gated_activation(up, T, F, c_.act, act, wt, s);
    ctx.gemm.linear(act, T, F, ffn_down_.get(), E, wt, f(ffn_down_b_), x, true, s);
  }

 private:
  SlstmConfig c_;
  cuda::SlstmPlan plan_;
  bool projected_step_ = env_choice("XLSTM_SLSTM_STEP", 0, {"projected", "split"}) == 0;
  DeviceBuffer norm_, conv_w_, conv_b_, w_if_, w_zo_, w_if_heads_, w_zo_heads_, R_rows_, R_,
      R_frag_, bias_, group_norm_, ffn_norm_, ffn_up_, ffn_up_b_, ffn_down_, ffn_down_b_;
};

std::unique_ptr<cuda::CudaBlock> load(const BlockSite& s, WeightLoader& L, WeightType wt) {
  return std::make_unique<SlstmCudaBlock>(config_of_slstm(s), load_slstm_weights(s, L), wt);
}

std::unique_ptr<cuda::CudaBlock> random(const BlockSite& s, uint64_t seed, WeightType wt) {
  return std::make_unique<SlstmCudaBlock>(config_of_slstm(s), random_slstm_weights(s, seed), wt);
}

}  // namespace

const cuda::CudaBlockFactory& slstm_cuda_forward() {
  static const cuda::CudaBlockFactory factory{load, random};
  return factory;
}

}  // namespace xlstm
