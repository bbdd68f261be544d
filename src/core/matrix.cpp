#include "core/matrix.h"

#include <algorithm>

#include "core/cpu_dispatch.h"

namespace xlstm {

void Matrix::row_f32(int64_t r, float* dst) const {
  rows_f32(r, 1, dst);
}

XLSTM_CPU_KERNEL void Matrix::rows_f32(int64_t r0, int64_t n, float* dst) const {
  const size_t begin = static_cast<size_t>(r0 * cols), count = static_cast<size_t>(n * cols);
  if (type == WeightType::F32) {
    std::copy_n(f32.data() + begin, count, dst);
  } else {
    const uint16_t* src = bf16.data() + begin;
    for (size_t i = 0; i < count; ++i) dst[i] = bf16_to_f32(src[i]);
  }
}

Matrix Matrix::from_f32(int64_t rows, int64_t cols, std::vector<float> values, WeightType type) {
  Matrix m;
  m.rows = rows;
  m.cols = cols;
  m.type = type;
  if (type == WeightType::F32) {
    m.f32 = std::move(values);
  } else {
    m.bf16.resize(values.size());
    for (size_t i = 0; i < values.size(); ++i) m.bf16[i] = f32_to_bf16(values[i]);
  }
  return m;
}

}  // namespace xlstm
