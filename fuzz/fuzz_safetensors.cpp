// safetensors: the header (length, JSON, dtypes, shapes, data_offsets, __metadata__) through
// TensorStore::open_file, the loader the model and State::load use, then every tensor read the
// way the weight loader reads it (read_f32 / read_i64, the NaN/Inf scan, a shape mismatch).
//
// Properties: a tensor that loads covers exactly its bytes, inside the file's data section, with
// non-negative dims; reads touch only those bytes (ASan); errors are InvalidInput naming the file.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <nlohmann/json.hpp>
#include <vector>

#include "fuzz_util.h"
#include "io/safetensors.h"

using namespace xlstm;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static fuzz::MemFile file("fuzz_safetensors");
  const auto& path = file.write(data, size);
  const std::string source = path.string();
  try {
    const TensorStore store = TensorStore::open_file(path);
    uint64_t header_len = 0;  // the file loaded, so it has the 8-byte length and a JSON header
    for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | data[i];
    const size_t data_start = 8 + header_len, data_size = size - data_start;
    const auto header = nlohmann::json::parse(data + 8, data + data_start);
    for (const auto& name : store.names()) {
      const TensorInfo* t = store.find(name);
      if (t == nullptr || t->name != name) fuzz::finding("find('" + name + "') disagrees");
      int64_t n = 1;
      for (const int64_t d : t->shape) {
        if (d < 0) fuzz::finding(name + ": negative dim in " + shape_str(t->shape));
        n *= d;
      }
      if (static_cast<size_t>(n) * dtype_size(t->dtype) != t->nbytes)
        fuzz::finding(name + ": " + std::to_string(t->nbytes) + " bytes for " +
                      shape_str(t->shape) + " of " + dtype_name(t->dtype));
      // Its bytes are the file's bytes at data_offsets, counted from the end of the header
      // (offsets read here from the header independently of the library).
      const uint64_t begin = header.at(name).at("data_offsets").at(0).get<uint64_t>();
      if (begin > data_size || t->nbytes > data_size - begin)
        fuzz::finding(name + ": data_offsets outside the data section");
      if (t->nbytes > 0 && std::memcmp(t->data, data + data_start + begin, t->nbytes) != 0)
        fuzz::finding(name + ": bytes differ from the file's at data_offsets");
      if (t->dtype == DType::I64 || t->dtype == DType::I32) {
        const std::vector<int64_t> v = read_i64(*t);
        if (static_cast<int64_t>(v.size()) != n) fuzz::finding(name + ": read_i64 size");
      } else {
        const std::vector<float> v = read_f32(*t, t->shape);
        if (static_cast<int64_t>(v.size()) != n) fuzz::finding(name + ": read_f32 size");
        try {
          require_finite(*t);
        } catch (const InvalidInput& e) {
          fuzz::require_named(e, source);
        }
      }
      // A caller expecting another shape gets an error naming the tensor.
      Shape other = t->shape;
      other.push_back(2);
      try {
        read_f32(*t, other);
        fuzz::finding(name + ": read_f32 accepted shape " + shape_str(other));
      } catch (const InvalidInput& e) {
        fuzz::require_named(e, name);
      }
    }
    for (const auto& [key, value] : store.metadata()) {
      if (header.at("__metadata__").at(key) != value)
        fuzz::finding("metadata '" + key + "' differs from the header's");
    }
  } catch (const InvalidInput& e) {
    fuzz::require_named(e, source);
  }
  return 0;
}
