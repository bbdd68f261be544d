#include "io/safetensors.h"
#include "core/regular_file.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "xlstm/error.h"

namespace xlstm {

namespace {

using nlohmann::json;

std::string where(const std::filesystem::path& p) {
  return p.string();
}

[[noreturn]] void fail(const std::filesystem::path& p, const std::string& what) {
  throw InvalidInput(tagged("safetensors", where(p) + ": " + what));
}

DType parse_dtype(const std::filesystem::path& p, const std::string& name, const std::string& s) {
  if (s == "F32") return DType::F32;
  if (s == "BF16") return DType::BF16;
  if (s == "F16") return DType::F16;
  if (s == "I64") return DType::I64;
  if (s == "I32") return DType::I32;
  fail(p, "tensor '" + name + "': unsupported dtype '" + s +
              "' (expected F32, BF16, F16, I64 or I32)");
}

uint64_t read_u64_le(const unsigned char* b) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | b[i];
  return v;
}

}  // namespace

std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

int64_t numel(const Shape& s) {
  int64_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

SafetensorsFile::SafetensorsFile(const std::filesystem::path& path) : file_(path) {
  const size_t size = file_.size();
  if (size < 8)
    fail(path,
         "file is " + std::to_string(size) + " bytes, too short for the 8-byte header length");
  const uint64_t header_len = read_u64_le(file_.data());
  if (header_len > size - 8) {
    fail(path, "header length " + std::to_string(header_len) + " exceeds the file (" +
                   std::to_string(size) + " bytes): truncated or not a safetensors file");
  }
  json header;
  try {
    // JSON objects keep the last of duplicate keys: a header naming a tensor twice is refused.
    std::set<std::string> names;
    std::string duplicate;
    const json::parser_callback_t check_keys = [&](int depth, json::parse_event_t event,
                                                   json& parsed) {
      if (depth == 1 && event == json::parse_event_t::key &&
          !names.insert(parsed.get<std::string>()).second && duplicate.empty())
        duplicate = parsed.get<std::string>();
      return true;
    };
    header = json::parse(file_.data() + 8, file_.data() + 8 + header_len, check_keys);
    if (!duplicate.empty()) fail(path, "tensor '" + duplicate + "' appears twice in the header");
  } catch (const json::exception& e) {
    fail(path, std::string("invalid header JSON: ") + e.what());
  }
  if (!header.is_object()) fail(path, "header is not a JSON object");

  const unsigned char* data_start = file_.data() + 8 + header_len;
  const uint64_t data_size = size - 8 - header_len;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) fail(path, "'__metadata__' is not an object");
      for (auto& [key, value] : entry.items()) {
        if (!value.is_string()) fail(path, "'__metadata__' entry '" + key + "' is not a string");
        metadata_[key] = value.get<std::string>();
      }
      continue;
    }
    if (!entry.is_object()) fail(path, "tensor '" + name + "': entry is not an object");
    for (const char* key : {"dtype", "shape", "data_offsets"}) {
      if (!entry.contains(key)) fail(path, "tensor '" + name + "': missing '" + key + "'");
    }
    if (!entry["dtype"].is_string()) fail(path, "tensor '" + name + "': 'dtype' is not a string");
    TensorInfo t;
    t.name = name;
    t.file = path.string();
    t.dtype = parse_dtype(path, name, entry["dtype"].get<std::string>());
    const auto& shape = entry["shape"];
    if (!shape.is_array()) fail(path, "tensor '" + name + "': 'shape' is not an array");
    // The product of the non-zero dims is at most 2^48, so that any product of dims fits in int64
    // (a zero dim kept the element count at 0, and a dim of 2^63 after it became a negative int64).
    constexpr uint64_t kMaxElements = uint64_t{1} << 48;
    uint64_t count = 1, nonzero = 1;
    for (const auto& d : shape) {
      if (!d.is_number_unsigned())
        fail(path, "tensor '" + name + "': shape entries must be non-negative integers");
      const uint64_t dim = d.get<uint64_t>();
      if (dim != 0 && nonzero > kMaxElements / dim)
        fail(path,
             "tensor '" + name + "': shape " + shape.dump() + " too large (over 2^48 elements)");
      count *= dim;
      if (dim != 0) nonzero *= dim;
      t.shape.push_back(static_cast<int64_t>(dim));
    }
    const auto& offs = entry["data_offsets"];
    if (!offs.is_array() || offs.size() != 2 || !offs[0].is_number_unsigned() ||
        !offs[1].is_number_unsigned()) {
      fail(path,
           "tensor '" + name + "': 'data_offsets' must be [begin, end] of non-negative integers");
    }
    const uint64_t begin = offs[0].get<uint64_t>(), end = offs[1].get<uint64_t>();
    if (begin > end || end > data_size) {
      fail(path, "tensor '" + name + "': data_offsets [" + std::to_string(begin) + ", " +
                     std::to_string(end) + "] outside the data section of " +
                     std::to_string(data_size) + " bytes (truncated file?)");
    }
    if (end - begin != count * dtype_size(t.dtype)) {
      fail(path, "tensor '" + name + "': " + std::to_string(end - begin) + " bytes for shape " +
                     shape_str(t.shape) + " of " + dtype_name(t.dtype) + " (expected " +
                     std::to_string(count * dtype_size(t.dtype)) + ")");
    }
    t.data = data_start + begin;
    t.nbytes = end - begin;
    if (begin != end) ranges.emplace_back(begin, end);
    tensors_.emplace(name, std::move(t));
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i) {
    if (ranges[i].first < ranges[i - 1].second) {
      std::string a, b;
      for (const auto& [n, t] : tensors_) {
        const auto off = static_cast<uint64_t>(t.data - data_start);
        if (off == ranges[i - 1].first && a.empty())
          a = n;
        else if (off == ranges[i].first)
          b = n;
      }
      fail(path, "tensors '" + a + "' and '" + b + "' have overlapping data_offsets");
    }
  }
}

const TensorInfo& SafetensorsFile::at(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) fail(file_.path(), "no tensor named '" + name + "'");
  return it->second;
}

TensorStore TensorStore::open_file(const std::filesystem::path& file) {
  TensorStore store;
  store.files_.push_back(std::make_unique<SafetensorsFile>(file));
  for (const auto& [name, t] : store.files_.back()->tensors()) store.index_[name] = &t;
  store.description_ = file.string();
  return store;
}

const std::map<std::string, std::string>& TensorStore::metadata() const {
  static const std::map<std::string, std::string> none;
  return files_.size() == 1 ? files_.front()->metadata() : none;
}

TensorStore TensorStore::open_dir(const std::filesystem::path& dir) {
  const auto single = dir / "model.safetensors";
  const auto index_path = dir / "model.safetensors.index.json";
  if (std::filesystem::exists(single)) return open_file(single);
  if (!std::filesystem::exists(index_path)) {
    throw InvalidInput(tagged(
        "safetensors",
        dir.string() + ": neither model.safetensors nor model.safetensors.index.json found"));
  }
  json index;
  try {
    require_regular_file(index_path, "safetensors");
    std::ifstream in(index_path);
    index = json::parse(in);
  } catch (const json::exception& e) {
    fail(index_path, std::string("invalid JSON: ") + e.what());
  }
  if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object()) {
    fail(index_path, "missing object 'weight_map'");
  }
  TensorStore store;
  std::map<std::string, SafetensorsFile*> shards;
  for (auto& [name, shard] : index["weight_map"].items()) {
    if (!shard.is_string()) fail(index_path, "weight_map['" + name + "'] is not a file name");
    const auto shard_name = shard.get<std::string>();
    if (shard_name.find('/') != std::string::npos || shard_name == "..") {
      fail(index_path, "weight_map['" + name + "'] = '" + shard_name +
                           "' is not a file in the model directory");
    }
    auto it = shards.find(shard_name);
    if (it == shards.end()) {
      store.files_.push_back(std::make_unique<SafetensorsFile>(dir / shard_name));
      it = shards.emplace(shard_name, store.files_.back().get()).first;
    }
    const auto& tensors = it->second->tensors();
    auto t = tensors.find(name);
    if (t == tensors.end()) {
      fail(index_path, "weight_map says '" + name + "' is in " + shard_name +
                           ", but that shard has no such tensor");
    }
    store.index_[name] = &t->second;
  }
  store.description_ = index_path.string() + " (" + std::to_string(shards.size()) + " shards)";
  return store;
}

const TensorInfo* TensorStore::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : it->second;
}

std::vector<std::string> TensorStore::names() const {
  std::vector<std::string> out;
  for (const auto& [n, _] : index_) out.push_back(n);
  return out;
}

void check_float_tensor(const TensorInfo& t, const Shape& expected) {
  if (t.shape != expected) {
    throw InvalidInput(tagged("weights", t.name + ": expected " + shape_str(expected) +
                                             ", file has " + shape_str(t.shape) + " (" + t.file +
                                             ")"));
  }
  if (t.dtype != DType::F32 && t.dtype != DType::BF16 && t.dtype != DType::F16) {
    throw InvalidInput(tagged(
        "weights", t.name + ": dtype " + dtype_name(t.dtype) +
                       " is not a floating-point weight type (F32, BF16, F16) (" + t.file + ")"));
  }
}

std::vector<float> read_f32(const TensorInfo& t, const Shape& expected) {
  check_float_tensor(t, expected);
  std::vector<float> out(static_cast<size_t>(numel(t.shape)));
  convert_to_f32(t.dtype, t.data, out.size(), out.data());
  return out;
}

std::vector<int64_t> read_i64(const TensorInfo& t) {
  std::vector<int64_t> out(static_cast<size_t>(numel(t.shape)));
  if (t.dtype == DType::I64) {
    std::memcpy(out.data(), t.data, t.nbytes);
  } else if (t.dtype == DType::I32) {
    for (size_t i = 0; i < out.size(); ++i) {
      int32_t v;
      std::memcpy(&v, t.data + 4 * i, 4);
      out[i] = v;
    }
  } else {
    throw InvalidInput(
        tagged("safetensors", t.name + ": expected an integer tensor, got " + dtype_name(t.dtype)));
  }
  return out;
}

namespace {
// Whether the element at byte offset `at` has an all-ones exponent (NaN or Inf).
bool nonfinite_at(DType t, const unsigned char* p) {
  switch (t) {
    case DType::F32: {
      uint32_t b;
      std::memcpy(&b, p, 4);
      return (b & 0x7f800000u) == 0x7f800000u;
    }
    case DType::BF16: {
      uint16_t b;
      std::memcpy(&b, p, 2);
      return (b & 0x7f80u) == 0x7f80u;
    }
    case DType::F16: {
      uint16_t b;
      std::memcpy(&b, p, 2);
      return (b & 0x7c00u) == 0x7c00u;
    }
    default:
      return false;
  }
}
}  // namespace

void require_finite(const TensorInfo& t) {
  if (t.dtype != DType::F32 && t.dtype != DType::BF16 && t.dtype != DType::F16) return;
  const size_t es = dtype_size(t.dtype), n = t.nbytes / es;
  size_t first = n;
#pragma omp parallel for reduction(min : first) schedule(static) if (n > (1 << 16))
  for (size_t i = 0; i < n; ++i) {
    if (nonfinite_at(t.dtype, t.data + i * es)) first = std::min(first, i);
  }
  if (first == n) return;
  float v = 0.0f;
  convert_to_f32(t.dtype, t.data + first * es, 1, &v);
  throw InvalidInput(tagged(
      "weights", t.file + ": tensor '" + t.name + "' holds " + (std::isnan(v) ? "NaN" : "Inf") +
                     " at flat index " + std::to_string(first) + " of shape " + shape_str(t.shape) +
                     " (check skipped with --no-weight-check)"));
}

TensorToWrite f32_tensor(std::string name, Shape shape, const float* data) {
  TensorToWrite t{std::move(name), DType::F32, std::move(shape), {}};
  t.bytes.resize(static_cast<size_t>(numel(t.shape)) * 4);
  std::memcpy(t.bytes.data(), data, t.bytes.size());
  return t;
}

void write_safetensors(const std::filesystem::path& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    header[t.name] = {{"dtype", dtype_name(t.dtype)},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + t.bytes.size()}}};
    offset += t.bytes.size();
  }
  std::string h = header.dump();
  while ((8 + h.size()) % 8 != 0) h.push_back(' ');  // keep the data section 8-byte aligned
  std::ofstream out(path, std::ios::binary);
  if (!out) throw Error(tagged("safetensors", path.string() + ": cannot open for writing"));
  unsigned char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>((h.size() >> (8 * i)) & 0xff);
  out.write(reinterpret_cast<const char*>(len), 8);
  out.write(h.data(), static_cast<std::streamsize>(h.size()));
  for (const auto& t : tensors)
    out.write(reinterpret_cast<const char*>(t.bytes.data()),
              static_cast<std::streamsize>(t.bytes.size()));
  if (!out) throw Error(tagged("safetensors", path.string() + ": write failed"));
}

}  // namespace xlstm
