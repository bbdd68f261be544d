#include "model/weight_loader.h"

#include "xlstm/error.h"

namespace xlstm {

const TensorInfo& WeightLoader::require(const std::string& name, const Shape& shape) {
  const TensorInfo* t = store_.find(name);
  if (t == nullptr) {
    throw InvalidInput(tagged("weights", name + ": missing (expected " + shape_str(shape) +
                                             ") in " + store_.description()));
  }
  used_.insert(name);
  if (check_finite_) require_finite(*t);
  return *t;
}

std::vector<float> WeightLoader::take(const std::string& name, const Shape& shape) {
  return read_f32(require(name, shape), shape);
}

const TensorInfo& WeightLoader::take_info(const std::string& name, const Shape& shape) {
  const TensorInfo& t = require(name, shape);
  check_float_tensor(t, shape);
  return t;
}

void WeightLoader::take_into(const std::string& name, const Shape& shape, float* dst) {
  const auto values = take(name, shape);
  std::copy(values.begin(), values.end(), dst);
}

void WeightLoader::check_all_used() const {
  std::string extra;
  int count = 0;
  for (const auto& name : store_.names()) {
    if (used_.count(name)) continue;
    if (count < 8) extra += (count ? ", " : "") + name;
    ++count;
  }
  if (count > 0) {
    throw InvalidInput(tagged("weights", store_.description() + ": " + std::to_string(count) +
                                             " unexpected tensor(s) for this config: " + extra +
                                             (count > 8 ? ", ..." : "")));
  }
}

}  // namespace xlstm
