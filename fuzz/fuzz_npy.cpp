// .npy token ids (read_npy_ids, what `xlstm logits --batch-file` reads): magic, version 1/2/3
// header length, the header dict (descr, fortran_order, shape), the data.
//
// Properties: an array that loads is [B, S] with B, S > 0, B·S ids, each in [0, INT32_MAX], and
// they are the file's values; errors are InvalidInput naming the file.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "fuzz_util.h"
#include "xlstm/npy.h"

using namespace xlstm;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static fuzz::MemFile file("fuzz_npy");
  const auto& path = file.write(data, size);
  NpyIds a;
  try {
    a = read_npy_ids(path);
  } catch (const InvalidInput& e) {
    fuzz::require_named(e, path.string());
    return 0;
  }
  if (a.shape.size() != 2 || a.shape[0] <= 0 || a.shape[1] <= 0)
    fuzz::finding("loaded an array that is not [B, S] with B, S > 0");
  const auto n = static_cast<size_t>(a.shape[0] * a.shape[1]);
  if (a.ids.size() != n) fuzz::finding("shape and id count disagree");
  // The ids are the file's last n elements, all int32 or all int64 (little-endian).
  bool as_i32 = size >= 4 * n, as_i64 = size >= 8 * n;
  for (size_t i = 0; i < n; ++i) {
    if (a.ids[i] < 0) fuzz::finding("negative id " + std::to_string(a.ids[i]));
    if (as_i32) {
      int32_t v;
      std::memcpy(&v, data + size - 4 * n + 4 * i, 4);
      as_i32 = a.ids[i] == v;
    }
    if (as_i64) {
      int64_t v;
      std::memcpy(&v, data + size - 8 * n + 8 * i, 8);
      as_i64 = a.ids[i] == v;
    }
  }
  if (!as_i32 && !as_i64) fuzz::finding("the ids are not the file's last elements");
  return 0;
}
