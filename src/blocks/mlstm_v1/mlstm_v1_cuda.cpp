// The "mlstm_v1" block's CUDA forward: the CPU forward's steps (mlstm_v1_block.cpp) as kernels,
// the projections through cuBLASLt (the small gate projection of a decode step as one kernel),
// the cell through the xLSTM Large cell kernels (chunkwise for
// prefill, the fused step for decode).
#include <cmath>
#include <cstdint>

#include "backend/cuda/cuda_block.h"
#include "backend/cuda/decode_persistent_v1.h"
#include "backend/cuda/family_ops.h"
#include "backend/cuda/ops.h"
#include "blocks/mlstm_v1/mlstm_v1_weights.h"
#include "blocks/v1_common/v1_common.h"
#include "core/env_settings.h"

namespace xlstm {

namespace {

using cuda::DeviceBuffer;

// XLSTM_PD_V1_C_PREFETCH=last|normal|none (unset: last; in V1CPrefetch's order):
// decode_persistent_v1.h.
cuda::V1CPrefetch c_prefetch_from_env() {
  return static_cast<cuda::V1CPrefetch>(
      env_choice("XLSTM_PD_V1_C_PREFETCH", 0, {"last", "normal", "none"}));
}

// Up to this many rows (tokens of a call), the gate projection runs as one small kernel; more go
// through cuBLASLt.
constexpr int64_t kSmallRows = 16;

class MlstmV1CudaBlock final : public cuda::CudaBlock {
 public:
  MlstmV1CudaBlock(const MlstmV1Config& c, const MlstmV1Weights& w, WeightType wt)
      : c_(c),
        norm_(cuda::upload_floats(w.norm)),
        up_(cuda::upload_matrix(w.up, wt)),
        up_b_(cuda::upload_floats(w.up_b)),
        conv_w_(cuda::upload_floats(w.conv_w)),
        conv_b_(cuda::upload_floats(w.conv_b)),
        q_w_(cuda::upload_floats(w.q_w)),
        k_w_(cuda::upload_floats(w.k_w)),
        v_w_(cuda::upload_floats(w.v_w)),
        q_b_(cuda::upload_floats(w.q_b)),
        k_b_(cuda::upload_floats(w.k_b)),
        v_b_(cuda::upload_floats(w.v_b)),
        gates_(cuda::upload_floats(w.gates)),
        gates_b_(cuda::upload_floats(w.gates_b)),
        outnorm_(cuda::upload_floats(w.outnorm)),
        skip_(cuda::upload_floats(w.skip)),
        down_(cuda::upload_matrix(w.down, wt)),
        down_b_(cuda::upload_floats(w.down_b)) {}

  size_t weight_bytes() const override {
    return up_.bytes() + down_.bytes() + gates_.bytes() + q_w_.bytes() + k_w_.bytes() +
           v_w_.bytes() + conv_w_.bytes();
  }

  void forward(float* x, int64_t B, int64_t S, const cuda::DeviceBlockState& st,
               const RunOptions& o, cuda::CudaContext& ctx) override {
    const int64_t E = c_.embedding_dim, I = c_.inner_dim, NH = c_.num_heads, DH = c_.head_dim();
    const int64_t T = B * S, bs = c_.qkv_blocksize;
    const auto eps = static_cast<float>(v1::kNormEps);
    const WeightType wt = ctx.wt;
    cuda::Stream s = ctx.stream;
    auto f = [](const DeviceBuffer& b) { return b.bytes() ? b.as<float>() : nullptr; };

    void* u = ctx.ws.typed("u", T * E, wt);
    cuda::group_layer_norm(x, T, 1, E, E, f(norm_), eps, u, wt, false, s);
    float* up = ctx.ws.f32("up", T * 2 * I);  // x_m | z
    ctx.gemm.linear(u, T, E, up_.get(), 2 * I, wt, f(up_b_), up, false, s);
    float* conv = ctx.ws.f32("conv", T * I);  // SiLU(conv(x_m))
    // q | k | v as they are (the gates read those), and the cell's q · √DH | k / √DH: k carries
    // 1/√DH (the official state convention); q · √DH cancels the cell's own 1/√DH.
    float* qkv = ctx.ws.f32("qkv", T * 3 * I);
    float* qk = ctx.ws.f32("qk_scaled", T * 2 * I);
    const cuda::MlstmV1Qkv proj{T,       I,       bs,      conv,    up,      2 * I, f(q_w_),
                                f(q_b_), f(k_w_), f(k_b_), f(v_w_), f(v_b_), qkv,   qk};
    const float scale = std::sqrt(static_cast<float>(DH));
    // Decode: both in one launch where the shapes allow.
    if (!cuda::mlstm_v1_conv_qkv_steps(proj, conv, B, S, f(conv_w_), f(conv_b_), c_.conv_kernel,
                                       st["conv"], scale, s)) {
      cuda::causal_conv1d(up, 2 * I, B, S, I, f(conv_w_), f(conv_b_), c_.conv_kernel, st["conv"],
                          conv, true, s);
      cuda::mlstm_v1_qkv(proj, scale, s);
    }
    float* gates = ctx.ws.f32("gates", T * 2 * NH);  // ĩ | f̃
    if (T <= kSmallRows) {
      auto* counters = static_cast<unsigned*>(ctx.ws.get("small_linear_counters", T * 2 * NH * 4));
      float* partials =
          ctx.ws.f32("small_linear_partials", cuda::small_linear_partial_floats(T, 3 * I, 2 * NH));
      cuda::small_linear(qkv, T, 3 * I, f(gates_), f(gates_b_), 2 * NH, gates, counters, partials,
                         s);
    } else {
      ctx.gemm.linear(qkv, T, 3 * I, f(gates_), 2 * NH, WeightType::F32, f(gates_b_), gates, false,
                      s);
    }

    float* h = ctx.ws.f32("h", T * I);
    cuda::CellBatch cell{B,
                         S,
                         NH,
                         DH,
                         DH,
                         {qk, 2 * I},
                         {qk + I, 2 * I},
                         {qkv + 2 * I, 3 * I},
                         {gates, 2 * NH},
                         {gates + NH, 2 * NH},
                         h,
                         I};
    const cuda::CellStateDev cs{st["C"], st["n"], st["m"]};
    void* out = ctx.ws.typed("out", T * I, wt);
    if (S == 1 || o.formulation == Formulation::Step) {
      auto* sync = static_cast<unsigned*>(
          ctx.ws.get("mlstm_step_sync", static_cast<int64_t>(cuda::mlstm_step_sync_bytes(cell))));
      float* partials = ctx.ws.f32("mlstm_step_partials",
                                   static_cast<int64_t>(cuda::mlstm_step_partial_bytes(cell) / 4));
      // The group norm, skip and output gate run in each head's last block of the step.
      const cuda::HeadNormGate norm{f(outnorm_), nullptr, eps,      up + I, 2 * I,
                                    out,         wt,      f(skip_), conv};
      cuda::mlstm_step(cell, cs, 1e-6f, sync, s, &norm, partials);
    } else {
      const int64_t chunk =
          std::min<int64_t>(o.chunk_size > 0 ? o.chunk_size : 64, cuda::kMaxChunk);
      // bf16 models: the cell's products on tensor cores where the shape allows, as xLSTM Large;
      // wide heads take the outputs as one batched GEMM.
      const bool tc = wt == WeightType::BF16;
      void* scratch = ctx.ws.get(
          "mlstm_chunk",
          static_cast<int64_t>(cuda::mlstm_chunkwise_scratch_bytes(cell, chunk, tc, true)));
      cuda::mlstm_chunkwise(cell, cs, 1e-6f, chunk, scratch, s, tc, &ctx.gemm);
      cuda::mlstm_v1_norm_output(h, T, NH, DH, f(outnorm_), eps, conv, f(skip_), up + I, 2 * I, out,
                                 wt, s);
    }
    ctx.gemm.linear(out, T, I, down_.get(), E, wt, f(down_b_), x, true, s);  // x += proj_down
  }

  // The run's blocks in decode_persistent_v1.cu's launches (of at most kMaxV1DecodeLayers
  // blocks each), x advanced in place.
  bool decode_run(std::span<cuda::CudaBlock* const> run, float* x,
                  std::span<const cuda::DeviceBlockState> states, cuda::CudaContext& ctx) override {
    const int64_t E = c_.embedding_dim, I = c_.inner_dim, NH = c_.num_heads;
    if (run_supported_ < 0)  // asked once: the shapes and the device do not change
      run_supported_ =
          c_.qkv_blocksize == 4 && c_.conv_kernel == 4 && cuda::v1_decode_supported(E, I, NH);
    if (ctx.wt != WeightType::BF16 || run_supported_ == 0) return false;
    std::vector<const MlstmV1CudaBlock*> blocks;
    for (cuda::CudaBlock* b : run) {
      const auto* v = dynamic_cast<const MlstmV1CudaBlock*>(b);
      if (v == nullptr || v->c_.embedding_dim != E || v->c_.inner_dim != I ||
          v->c_.num_heads != NH || v->c_.qkv_blocksize != 4 || v->c_.conv_kernel != 4)
        return false;
      blocks.push_back(v);
    }
    std::vector<cuda::V1DecodeState> st;
    for (const cuda::DeviceBlockState& s : states) {
      st.push_back({s["conv"], s["C"], s["n"], s["m"]});
      for (const float* p : {st.back().conv, st.back().C})
        if (reinterpret_cast<uintptr_t>(p) % 16 != 0) return false;  // 16-byte accesses
    }
    if (run_layers_count_ != blocks.size()) {  // the weights' table, made once (not in a capture)
      if (cuda::stream_is_capturing(ctx.stream)) return false;
      std::vector<cuda::V1DecodeLayer> layers;
      for (const MlstmV1CudaBlock* b : blocks) layers.push_back(b->decode_layer());
      run_layers_ = DeviceBuffer(layers.size() * sizeof(cuda::V1DecodeLayer));
      cuda::copy_to_device(run_layers_.get(), layers.data(), run_layers_.bytes());
      run_layers_count_ = blocks.size();
    }
    const auto n = static_cast<int64_t>(blocks.size());
    const int64_t per = std::min<int64_t>(n, cuda::kMaxV1DecodeLayers);
    auto* words = static_cast<uint64_t*>(
        ctx.ws.get("v1_decode_words", cuda::v1_decode_words(E, I, NH, per) * 8));
    for (int64_t l0 = 0; l0 < n; l0 += per) {
      cuda::V1DecodeRun r{};
      r.E = E, r.I = I, r.NH = NH, r.L = std::min(per, n - l0);
      r.norm_eps = static_cast<float>(v1::kNormEps), r.cell_eps = 1e-6f;
      r.d_layers = run_layers_.as<cuda::V1DecodeLayer>() + l0;
      for (int64_t l = 0; l < r.L; ++l) r.state[l] = st[l0 + l];
      r.x = x, r.words = words, r.jitter_ns = ctx.jitter_ns;
      r.prefetch_vectors = prefetch_vectors_;
      r.c_prefetch = c_prefetch_, r.c_evict = c_evict_, r.c_stream = c_stream_;
      r.ring_in_flight = ring_in_flight_, r.ring_prefetch = ring_prefetch_,
      r.ring_pool = ring_pool_;
      cuda::v1_decode_run(r, ctx.stream);
    }
    return true;
  }

 private:
  // This block's weights for the persistent decode.
  cuda::V1DecodeLayer decode_layer() const {
    auto f = [](const DeviceBuffer& b) { return b.bytes() ? b.as<float>() : nullptr; };
    return {f(norm_),    up_.get(),   f(up_b_), f(conv_w_),  f(conv_b_), f(q_w_),
            f(k_w_),     f(v_w_),     f(q_b_),  f(k_b_),     f(v_b_),    f(gates_),
            f(gates_b_), f(outnorm_), f(skip_), down_.get(), f(down_b_)};
  }

  MlstmV1Config c_;
  DeviceBuffer norm_, up_, up_b_, conv_w_, conv_b_, q_w_, k_w_, v_w_, q_b_, k_b_, v_b_, gates_,
      gates_b_, outnorm_, skip_, down_, down_b_;
  // The persistent decode's table of the run's weights (when this block starts a run).
  DeviceBuffer run_layers_;
  size_t run_layers_count_ = 0;
  bool prefetch_vectors_ = env_switch("XLSTM_PD_V1_PREFETCH", false);
  // The weight ring's depths (experiments; decode_persistent_v1.h).
  uint32_t ring_in_flight_ = env_count("XLSTM_PD_INFLIGHT", cuda::kRingBuildDepth, 1, 6);
  uint32_t ring_prefetch_ = env_count("XLSTM_PD_PREFETCH", cuda::kRingBuildDepth, 0, 64);
  uint32_t ring_pool_ = env_count("XLSTM_PD_POOL", cuda::kRingBuildDepth, 2, 64);
  cuda::V1CPrefetch c_prefetch_ = c_prefetch_from_env();
  bool c_evict_ = env_switch("XLSTM_PD_V1_C_EVICT", false);
  bool c_stream_ = env_switch("XLSTM_PD_V1_C_STREAM", true);
  int run_supported_ = -1;  // v1_decode_supported for this block's shapes; -1: not asked yet
};

std::unique_ptr<cuda::CudaBlock> load(const BlockSite& s, WeightLoader& L, WeightType wt) {
  return std::make_unique<MlstmV1CudaBlock>(config_of_mlstm_v1(s), load_mlstm_v1_weights(s, L), wt);
}

std::unique_ptr<cuda::CudaBlock> random(const BlockSite& s, uint64_t seed, WeightType wt) {
  return std::make_unique<MlstmV1CudaBlock>(config_of_mlstm_v1(s), random_mlstm_v1_weights(s, seed),
                                            wt);
}

}  // namespace

const cuda::CudaBlockFactory& mlstm_v1_cuda_forward() {
  static const cuda::CudaBlockFactory factory{load, random};
  return factory;
}

}  // namespace xlstm
