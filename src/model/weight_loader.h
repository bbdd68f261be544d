#pragma once
// Hands out checkpoint tensors by name with their expected shape, converted to float32, and
// afterwards reports any tensor the config did not ask for. Topology comes from the config.
#include <set>
#include <string>
#include <vector>

#include "io/safetensors.h"

namespace xlstm {

class WeightLoader {
 public:
  // check_finite: every tensor handed out is scanned for NaN/Inf (an error names the tensor and
  // the index); false skips the scan.
  explicit WeightLoader(TensorStore store, bool check_finite = true)
      : store_(std::move(store)), check_finite_(check_finite) {}

  bool has(const std::string& name) const { return store_.find(name) != nullptr; }
  const TensorInfo* find(const std::string& name) const { return store_.find(name); }
  std::vector<std::string> names() const { return store_.names(); }
  std::string description() const { return store_.description(); }
  std::vector<float> take(const std::string& name, const Shape& shape);
  // Writes the tensor into dst (numel(shape) floats), e.g. rows of a fused matrix.
  void take_into(const std::string& name, const Shape& shape, float* dst);
  // The tensor itself (bytes in the memory map, stored dtype) after checking its shape and that it
  // is a float type: for loaders that convert or copy it themselves (the CUDA upload).
  const TensorInfo& take_info(const std::string& name, const Shape& shape);
  // Marks a tensor as consumed without reading it (e.g. a redundant tied lm_head).
  void skip(const std::string& name) { used_.insert(name); }
  // Throws if the checkpoint holds tensors nothing asked for.
  void check_all_used() const;

 private:
  const TensorInfo& require(const std::string& name, const Shape& shape);
  TensorStore store_;
  bool check_finite_;
  std::set<std::string> used_;
};

}  // namespace xlstm
