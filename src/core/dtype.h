#pragma once
// Element types that weights may be stored in, and their conversion to float32.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace xlstm {

enum class DType { F32, BF16, F16, I64, I32 };

size_t dtype_size(DType t);
std::string dtype_name(DType t);

inline float bf16_to_f32(uint16_t h) {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// Round-to-nearest-even; NaN stays NaN.
inline uint16_t f32_to_bf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

float f16_to_f32(uint16_t h);

// Converts n elements stored as `t` at `src` (possibly unaligned) to float32.
void convert_to_f32(DType t, const void* src, size_t n, float* dst);

}  // namespace xlstm
