// The headwise (block-diagonal) linear layer against a float64 reference, over every path it
// takes: wide blocks with more than 8 tokens (one GEMM per block), up to 8 (each block's rows as
// GEMVs in pieces of 64 rows over the threads), narrow blocks (a loop per token); with and
// without bias, rows in wider buffers. The bound holds for any summation order: a float32 sum of
// I products is within I·u·Σ|x·w| (u = 2⁻²⁴, first order) of the exact one, plus the bias's
// rounding.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "ops/headwise.h"

namespace xlstm {
namespace {

struct Case {
  int64_t T, NH, I, O;
  bool bias;
};

TEST(Headwise, MatchesFloat64OnEveryPath) {
  const Case cases[] = {{1, 4, 256, 256, false}, {1, 3, 20, 70, true}, {3, 1, 16, 130, true},
                        {2, 2, 40, 40, false},   {5, 4, 64, 64, true}, {6, 2, 20, 16, true},
                        {1, 8, 4, 4, true},      {7, 16, 4, 4, false}, {1, 1, 1000, 3, true},
                        {12, 3, 64, 48, true},   {9, 2, 20, 24, false}};
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (const Case& c : cases) {
    const int64_t in = c.NH * c.I, out = c.NH * c.O;
    const int64_t x_stride = in + 5, y_stride = out + 3;  // rows inside wider buffers
    std::vector<float> x(static_cast<size_t>(c.T * x_stride)), W(static_cast<size_t>(out * c.I));
    std::vector<float> b(c.bias ? static_cast<size_t>(out) : 0);
    for (float& v : x) v = normal(rng);
    for (float& v : W) v = normal(rng);
    for (float& v : b) v = normal(rng);
    std::vector<float> y(static_cast<size_t>(c.T * y_stride), -7.0f);
    headwise_linear(x.data(), x_stride, c.T, c.NH, c.I, c.O, W.data(), c.bias ? b.data() : nullptr,
                    y.data(), y_stride);
    const double u = std::ldexp(1.0, -24);
    const std::string what = "T " + std::to_string(c.T) + ", " + std::to_string(c.NH) + " blocks " +
                             std::to_string(c.O) + " x " + std::to_string(c.I);
    for (int64_t t = 0; t < c.T; ++t) {
      for (int64_t h = 0; h < c.NH; ++h) {
        for (int64_t o = 0; o < c.O; ++o) {
          double exact = c.bias ? b[h * c.O + o] : 0.0, magnitude = std::fabs(exact);
          for (int64_t d = 0; d < c.I; ++d) {
            const double p =
                static_cast<double>(x[t * x_stride + h * c.I + d]) * W[(h * c.O + o) * c.I + d];
            exact += p, magnitude += std::fabs(p);
          }
          const double bound = 1.01 * static_cast<double>(c.I + 2) * u * magnitude;
          ASSERT_NEAR(y[t * y_stride + h * c.O + o], exact, bound)
              << what << ", token " << t << ", block " << h << ", row " << o;
        }
      }
      for (int64_t j = out; j < y_stride; ++j)  // columns past NH·O untouched
        ASSERT_EQ(y[t * y_stride + j], -7.0f) << what << ", token " << t;
    }
  }
}

}  // namespace
}  // namespace xlstm
