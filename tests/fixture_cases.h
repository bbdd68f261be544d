#pragma once
// The model-parity cases in tests/fixtures/models: one per (model directory, ref_B{B}_S{S} file).
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "test_util.h"

namespace xlstm::testing {

struct ParityCase {
  std::string model;  // directory under fixtures/models
  std::string ref;    // ref_B{B}_S{S}.safetensors
};

inline void PrintTo(const ParityCase& p, std::ostream* os) {
  *os << p.model << "/" << p.ref;
}

inline std::vector<ParityCase> find_parity_cases() {
  namespace fs = std::filesystem;
  std::vector<ParityCase> cases;
  const auto root = fixtures() / "models";
  if (!fs::exists(root)) return cases;
  for (const auto& dir : fs::directory_iterator(root)) {
    for (const auto& f : fs::directory_iterator(dir.path())) {
      const auto name = f.path().filename().string();
      if (name.rfind("ref_", 0) == 0) cases.push_back({dir.path().filename().string(), name});
    }
  }
  std::sort(cases.begin(), cases.end(),
            [](auto& a, auto& b) { return a.model + a.ref < b.model + b.ref; });
  return cases;
}

// gtest name of a case: "<model>_B<b>_S<s>" with non-alphanumerics as '_'.
inline std::string parity_case_name(const ParityCase& p) {
  std::string name = p.model + "_" + p.ref.substr(4, p.ref.size() - 4 - 12);
  for (auto& ch : name) {
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  }
  return name;
}

// The *_bf16 / *_f16 copies store the fp32 model's (exactly representable) weights in 16 bits.
inline bool is_reduced_storage(const std::string& model) {
  return model.find("_bf16") != std::string::npos || model.find("_f16") != std::string::npos;
}

}  // namespace xlstm::testing
