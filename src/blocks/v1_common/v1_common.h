#pragma once
// Pieces the original family's block types share (spec §3.2): the up-projection width rule,
// LayerNorm weights stored as offsets (scale 1 + w), reading checkpoint tensors.
#include <cstdint>
#include <string>
#include <vector>

#include "core/matrix.h"
#include "io/json_section.h"
#include "model/weight_loader.h"

namespace xlstm::v1 {

inline constexpr double kNormEps = 1e-5;  // every LayerNorm of the family

// UpProjConfigMixin: proj_factor · E rounded up (or down) to a multiple of `multiple`.
int64_t proj_up_dim(const JsonSection& s, int64_t embedding_dim, double default_factor,
                    const std::string& factor_key = "proj_factor");

// A LayerNorm / group-norm weight w of shape [n] as the scale it stands for, 1 + w.
std::vector<float> take_norm_scale(WeightLoader& L, const std::string& name, int64_t n);
Matrix take_matrix(WeightLoader& L, const std::string& name, int64_t rows, int64_t cols,
                   WeightType wt);
// Empty when absent (has == false).
std::vector<float> take_optional(WeightLoader& L, bool has, const std::string& name, int64_t n);

// Random-weight helper for benchmarks: N(0, std) values from a seeded generator.
class RandomWeights {
 public:
  explicit RandomWeights(uint64_t seed);
  std::vector<float> normal(int64_t n, float std, float mean = 0.0f);
  Matrix matrix(int64_t rows, int64_t cols, WeightType wt);  // std 1/sqrt(cols)

 private:
  uint64_t state_;
};

}  // namespace xlstm::v1
