#pragma once
// safetensors reading (memory-mapped, single file or sharded via model.safetensors.index.json)
// and writing. Every header field is validated; errors name the file and the tensor.
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/mapped_file.h"

namespace xlstm {

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& s);
int64_t numel(const Shape& s);

struct TensorInfo {
  std::string name;
  DType dtype;
  Shape shape;
  const unsigned char* data = nullptr;  // inside the mapping; not necessarily aligned
  size_t nbytes = 0;
  std::string file;  // for error messages
};

class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::filesystem::path& path);
  const std::map<std::string, TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo& at(const std::string& name) const;
  // The header's "__metadata__" (string to string), empty when absent.
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  MappedFile file_;
  std::map<std::string, TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

// All tensors of a model directory: model.safetensors, or the shards of
// model.safetensors.index.json.
class TensorStore {
 public:
  static TensorStore open_dir(const std::filesystem::path& dir);
  static TensorStore open_file(const std::filesystem::path& file);

  const TensorInfo* find(const std::string& name) const;
  std::vector<std::string> names() const;
  // Metadata of a single-file store (open_file); empty otherwise.
  const std::map<std::string, std::string>& metadata() const;
  std::string description() const { return description_; }

 private:
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const TensorInfo*> index_;
  std::string description_;
};

// Throws InvalidInput naming the tensor unless it has this shape and a float dtype.
void check_float_tensor(const TensorInfo& t, const Shape& expected);
// Throws InvalidInput naming the file, tensor and flat index of the first NaN or Inf of a float
// tensor (F32, BF16, F16; multi-threaded, at memory speed). Integer tensors pass.
void require_finite(const TensorInfo& t);
// Loads a tensor as float32 (converting BF16/F16), checking its shape.
std::vector<float> read_f32(const TensorInfo& t, const Shape& expected);
std::vector<int64_t> read_i64(const TensorInfo& t);

struct TensorToWrite {
  std::string name;
  DType dtype;
  Shape shape;
  std::vector<unsigned char> bytes;
};
TensorToWrite f32_tensor(std::string name, Shape shape, const float* data);
void write_safetensors(const std::filesystem::path& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace xlstm
