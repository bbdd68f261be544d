// The "mlstm_large" block type (xLSTM Large / xLSTM-7B, spec §1.4): its parameters are the
// ModelConfig's fields; weights per weight_plan.h, held fused (one GEMM per stage).
#include <array>
#include <cmath>
#include <random>

#include "blocks/mlstm_large/mlstm_large_block.h"
#include "blocks/mlstm_large/weight_plan.h"
#include "model/block_registry.h"
#include "model/normal_draws.h"

namespace xlstm {

namespace {

class MlstmLargeCpuBlock final : public CpuBlock {
 public:
  MlstmLargeCpuBlock(const ModelConfig& c, MlstmLargeBlockWeights w) : c_(c), w_(std::move(w)) {}

  void forward(float* x, int64_t B, int64_t S, BlockState& state, const RunOptions& o,
               Workspace& ws) const override {
    const int64_t chunk = o.chunk_size > 0 ? o.chunk_size : c_.chunk_size;
    mlstm_large_block_forward(w_, c_, x, B, S, state, o.formulation, chunk, ws);
  }

  size_t weight_bytes() const override {
    return w_.w_in.bytes() + w_.w_out.bytes() + w_.w_up.bytes() + w_.w_down.bytes();
  }

 private:
  ModelConfig c_;
  MlstmLargeBlockWeights w_;
};

// Float32 staging of one block's fields, converted at the end.
using FieldSet = std::array<std::vector<float>, kNumWeightFields>;

Matrix take_matrix(const ModelConfig& c, FieldSet& f, WeightField field, WeightType wt) {
  const FieldShape s = field_shape(c, field);
  if (s.numel() == 0) return {};
  return Matrix::from_f32(s.rows, s.cols, std::move(f[static_cast<int>(field)]), wt);
}

std::vector<float> take_vector(FieldSet& f, WeightField field) {
  return std::move(f[static_cast<int>(field)]);
}

MlstmLargeBlockWeights block_from_fields(const ModelConfig& c, FieldSet& f, WeightType wt) {
  using W = WeightField;
  MlstmLargeBlockWeights w;
  w.norm_mlstm_w = take_vector(f, W::NormMlstmW);
  w.norm_mlstm_b = take_vector(f, W::NormMlstmB);
  w.w_in = take_matrix(c, f, W::WIn, wt);
  w.b_in = take_vector(f, W::BIn);
  w.mh_norm_w = take_vector(f, W::MhNormW);
  w.mh_norm_b = take_vector(f, W::MhNormB);
  w.w_out = take_matrix(c, f, W::WOut, wt);
  w.b_out = take_vector(f, W::BOut);
  w.norm_ffn_w = take_vector(f, W::NormFfnW);
  w.norm_ffn_b = take_vector(f, W::NormFfnB);
  w.w_up = take_matrix(c, f, W::WUp, wt);
  w.b_up = take_vector(f, W::BUp);
  w.w_down = take_matrix(c, f, W::WDown, wt);
  w.b_down = take_vector(f, W::BDown);
  return w;
}

class MlstmLargeType final : public BlockType {
 public:
  const char* name() const override { return "mlstm_large"; }
  char letter() const override { return 'L'; }

  std::vector<StateTensorSpec> state(const BlockSite& s) const override {
    const ModelConfig& c = s.model;
    const int64_t NH = c.num_heads, DK = c.qk_head_dim(), DV = c.v_head_dim();
    return {{"C", {NH, DK, DV}}, {"n", {NH, DK}}, {"m", {NH, 1}}};
  }

  int64_t parameter_count(const BlockSite& s) const override {
    int64_t n = 0;
    for (int f = static_cast<int>(WeightField::NormMlstmW); f < kNumWeightFields; ++f) {
      if (static_cast<WeightField>(f) == WeightField::BIn && !s.model.use_bias) {
        n += 2 * s.model.num_heads;  // only the gate biases exist
        continue;
      }
      n += field_shape(s.model, static_cast<WeightField>(f)).numel();
    }
    return n;
  }

  std::string describe(const BlockSite& s) const override {
    const ModelConfig& c = s.model;
    return "mlstm_large: heads " + std::to_string(c.num_heads) + ", qk/v head dims " +
           std::to_string(c.qk_head_dim()) + "/" + std::to_string(c.v_head_dim()) + ", ffn " +
           std::to_string(c.ffn_dim());
  }

  std::unique_ptr<CpuBlock> load_cpu(const BlockSite& s, WeightLoader& L,
                                     WeightType wt) const override {
    const ModelConfig& c = s.model;
    FieldSet f;
    f[static_cast<int>(WeightField::BIn)].assign(
        static_cast<size_t>(field_shape(c, WeightField::BIn).numel()), 0.0f);  // absent biases
    for (const WeightSlot& slot : plan_block_weights(c, s.index)) {
      auto& v = f[static_cast<int>(slot.field)];
      if (v.empty()) v.assign(static_cast<size_t>(field_shape(c, slot.field).numel()), 0.0f);
      L.take_into(slot.name, slot.shape, v.data() + slot.offset);
    }
    return std::make_unique<MlstmLargeCpuBlock>(c, block_from_fields(c, f, wt));
  }

  std::unique_ptr<CpuBlock> random_cpu(const BlockSite& s, uint64_t seed,
                                       WeightType wt) const override {
    const ModelConfig& c = s.model;
    const int64_t E = c.embedding_dim, NH = c.num_heads, qk = c.qk_dim(), v = c.v_dim(),
                  F = c.ffn_dim();
    NormalDraws randn(seed);
    auto ones = [](int64_t n) { return std::vector<float>(static_cast<size_t>(n), 1.0f); };
    const float s_in = 1.0f / std::sqrt(static_cast<float>(E));
    const int64_t W = 2 * qk + 2 * v + 2 * NH;
    MlstmLargeBlockWeights w;
    w.norm_mlstm_w = ones(E);
    w.w_in = Matrix::from_f32(W, E, randn(W * E, s_in), wt);
    w.b_in.assign(static_cast<size_t>(W), 0.0f);
    for (int64_t h = 0; h < NH; ++h) w.b_in[static_cast<size_t>(W - NH + h)] = 3.0f;  // forget
    w.mh_norm_w = ones(v);
    w.w_out = Matrix::from_f32(E, v, randn(E * v, 1.0f / std::sqrt(static_cast<float>(v))), wt);
    w.norm_ffn_w = ones(E);
    w.w_up = Matrix::from_f32(2 * F, E, randn(2 * F * E, s_in), wt);
    w.w_down = Matrix::from_f32(E, F, randn(E * F, 1.0f / std::sqrt(static_cast<float>(F))), wt);
    return std::make_unique<MlstmLargeCpuBlock>(c, std::move(w));
  }
};

}  // namespace

const BlockType& mlstm_large_block_type() {
  static const MlstmLargeType type;
  return type;
}

}  // namespace xlstm
