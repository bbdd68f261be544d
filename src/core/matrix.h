#pragma once
// A weight matrix [rows, cols] (PyTorch Linear layout: [out, in]) held in float32 or bfloat16.
// bf16 halves the bytes a decode step reads; arithmetic stays float32.
#include <cstdint>
#include <vector>

#include "core/dtype.h"

namespace xlstm {

enum class WeightType { F32, BF16 };

struct Matrix {
  int64_t rows = 0, cols = 0;
  WeightType type = WeightType::F32;
  std::vector<float> f32;      // rows·cols when type == F32
  std::vector<uint16_t> bf16;  // rows·cols when type == BF16

  bool empty() const { return rows == 0; }
  size_t bytes() const { return type == WeightType::F32 ? f32.size() * 4 : bf16.size() * 2; }
  // Row r as float32 into dst[cols].
  void row_f32(int64_t r, float* dst) const;
  // Rows [r0, r0 + n) as float32 into dst[n, cols].
  void rows_f32(int64_t r0, int64_t n, float* dst) const;

  static Matrix from_f32(int64_t rows, int64_t cols, std::vector<float> values, WeightType type);
};

}  // namespace xlstm
