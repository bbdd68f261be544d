#pragma once
// Minimal .npy (NumPy format 1.0/2.0) support: float32 arrays out, integer id arrays in.
#include <cstdint>
#include <filesystem>
#include <vector>

namespace xlstm {

void write_npy_f32(const std::filesystem::path& path, const std::vector<int64_t>& shape,
                   const float* data);

struct NpyIds {
  std::vector<int64_t> shape;  // [B, S] (a 1-D array is read as [1, S])
  std::vector<int32_t> ids;
};
// Reads an int32 or int64 little-endian C-order array of rank 1 or 2.
NpyIds read_npy_ids(const std::filesystem::path& path);

}  // namespace xlstm
