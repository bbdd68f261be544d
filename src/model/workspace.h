#pragma once
// Scratch buffers reused across forward calls: no allocation per token once sized.
#include <cstdint>
#include <vector>

namespace xlstm {

struct Workspace {
  std::vector<float> x;       // [T, E] residual stream
  std::vector<float> u;       // [T, E] normed input
  std::vector<float> proj;    // [T, 2qk + 2v + 2NH]
  std::vector<float> h;       // [T, v] cell output
  std::vector<float> hn;      // [T, v] normed, gated
  std::vector<float> y;       // [T, E] block output before the residual
  std::vector<float> up;      // [T, 2F]
  std::vector<float> act;     // [T, F]
  std::vector<float> logits;  // [T, V]

  static float* sized(std::vector<float>& v, int64_t n) {
    if (static_cast<int64_t>(v.size()) < n) v.resize(static_cast<size_t>(n));
    return v.data();
  }
};

}  // namespace xlstm
