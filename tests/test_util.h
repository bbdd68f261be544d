#pragma once
// Shared helpers for the tests: random data, max-abs / relative differences, fixture paths.
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

namespace xlstm::testing {

// A shell command line run to completion: its exit status and what it wrote to stdout (stderr
// too where the line redirects it).
struct CommandResult {
  int code;
  std::string out;
};
inline CommandResult run_command(const std::string& cmd) {
  FILE* pipe = popen(cmd.c_str(), "r");
  if (pipe == nullptr) return {-1, ""};
  std::string out;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) out.append(buf.data(), n);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

inline std::filesystem::path fixtures() {
  return XLSTM_FIXTURES_DIR;
}

inline std::vector<float> randn(size_t n, uint64_t seed, float std = 1.0f, float mean = 0.0f) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> d(mean, std);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

inline float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  float m = 0.0f;
  for (size_t i = 0; i < a.size(); ++i) {
    const float d = std::fabs(a[i] - b[i]);
    if (std::isnan(d)) return INFINITY;
    m = std::max(m, d);
  }
  return a.size() == b.size() ? m : INFINITY;
}

// max |a − b| / max(max |b|, tiny): a relative error that ignores elementwise cancellation.
inline float rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
  float scale = 1e-30f;
  for (float x : b) scale = std::max(scale, std::fabs(x));
  return max_abs_diff(a, b) / scale;
}

// ‖a − b‖₂ / ‖b‖₂.
inline float rel_l2(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return INFINITY;
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += double(a[i] - b[i]) * (a[i] - b[i]);
    den += double(b[i]) * b[i];
  }
  return static_cast<float>(std::sqrt(num / std::max(den, 1e-300)));
}

}  // namespace xlstm::testing
