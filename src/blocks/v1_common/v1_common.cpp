#include "blocks/v1_common/v1_common.h"

#include <cmath>
#include <random>

namespace xlstm::v1 {

int64_t proj_up_dim(const JsonSection& s, int64_t E, double default_factor,
                    const std::string& factor_key) {
  const double factor = s.number(factor_key.c_str(), default_factor);
  const int64_t multiple = s.integer("round_proj_up_to_multiple_of", 64);
  const bool up = s.boolean("round_proj_up_dim_up", true);
  if (!(factor > 0) || factor > 64) s.fail(factor_key, "must be a positive number (at most 64)");
  if (multiple <= 0 || multiple > (int64_t{1} << 20))
    s.fail("round_proj_up_to_multiple_of", "must be a positive integer (at most 2^20)");
  const double units = factor * static_cast<double>(E) / static_cast<double>(multiple);
  const double rounded = up ? std::ceil(units) : std::floor(units);
  if (!(rounded >= 1) || rounded * static_cast<double>(multiple) > double(int64_t{1} << 40)) {
    s.fail(factor_key, "gives a projection width of " +
                           std::to_string(rounded * static_cast<double>(multiple)) +
                           " (proj_factor · embedding_dim rounded to a multiple of " +
                           std::to_string(multiple) + "); it must be positive and below 2^40");
  }
  return static_cast<int64_t>(rounded) * multiple;
}

std::vector<float> take_norm_scale(WeightLoader& L, const std::string& name, int64_t n) {
  std::vector<float> w = L.take(name, {n});
  for (auto& x : w) x += 1.0f;
  return w;
}

Matrix take_matrix(WeightLoader& L, const std::string& name, int64_t rows, int64_t cols,
                   WeightType wt) {
  return Matrix::from_f32(rows, cols, L.take(name, {rows, cols}), wt);
}

std::vector<float> take_optional(WeightLoader& L, bool has, const std::string& name, int64_t n) {
  return has ? L.take(name, {n}) : std::vector<float>{};
}

RandomWeights::RandomWeights(uint64_t seed) : state_(seed) {}

std::vector<float> RandomWeights::normal(int64_t n, float std, float mean) {
  std::mt19937_64 rng(state_++);
  std::normal_distribution<float> d(mean, std);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = d(rng);
  return v;
}

Matrix RandomWeights::matrix(int64_t rows, int64_t cols, WeightType wt) {
  return Matrix::from_f32(rows, cols,
                          normal(rows * cols, 1.0f / std::sqrt(static_cast<float>(cols))), wt);
}

}  // namespace xlstm::v1
