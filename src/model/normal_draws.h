#pragma once
// N(0, std) values for random weights (benchmarks, tests): one seeded generator, consecutive
// draws, so that a model's random weights are the same on every device that draws them here.
#include <cstdint>
#include <random>
#include <vector>

namespace xlstm {

class NormalDraws {
 public:
  explicit NormalDraws(uint64_t seed) : rng_(seed) {}
  std::vector<float> operator()(int64_t n, float std) {
    std::vector<float> out(static_cast<size_t>(n));
    for (auto& x : out) x = normal_(rng_) * std;
    return out;
  }

 private:
  std::mt19937_64 rng_;
  std::normal_distribution<float> normal_{0.0f, 1.0f};
};

}  // namespace xlstm
