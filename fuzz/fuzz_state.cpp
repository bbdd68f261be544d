// State files (State::load, what `xlstm logits --state-in` reads): a safetensors file whose
// tensors state.{block}.{name} and "xlstm.block_types" metadata must match the model's state
// layout. Each input is loaded for both models of fuzz/state_configs.h.
//
// Properties: a state that loads has the model's layout, batch B > 0 and B·(spec) floats per
// tensor; it saves and loads back bit for bit; a sequence sliced out
// and assigned back leaves it unchanged; errors are InvalidInput naming the file.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "fuzz_util.h"
#include "state_configs.h"
#include "xlstm/state.h"

using namespace xlstm;

namespace {

bool same_bits(const State& a, const State& b) {
  const auto &x = a.blocks(), &y = b.blocks();
  if (a.batch() != b.batch() || a.layout() != b.layout() || x.size() != y.size()) return false;
  for (size_t i = 0; i < x.size(); ++i) {
    if (x[i].tensors.size() != y[i].tensors.size()) return false;
    for (size_t j = 0; j < x[i].tensors.size(); ++j) {
      const auto &u = x[i].tensors[j].data, &v = y[i].tensors[j].data;
      if (x[i].tensors[j].name != y[i].tensors[j].name || u.size() != v.size() ||
          (!u.empty() && std::memcmp(u.data(), v.data(), 4 * u.size()) != 0))
        return false;
    }
  }
  return true;
}

void check_loaded(const State& s, const ModelConfig& config) {
  if (s.batch() <= 0) fuzz::finding("state loaded with batch " + std::to_string(s.batch()));
  if (s.layout() != state_layout(config)) fuzz::finding("state layout differs from the model's");
  for (size_t i = 0; i < s.layout().size(); ++i) {
    const auto& specs = s.layout()[i].tensors;
    for (size_t j = 0; j < specs.size(); ++j) {
      int64_t n = s.batch();
      for (const int64_t d : specs[j].shape) n *= d;
      if (static_cast<int64_t>(s.blocks()[i].tensors[j].data.size()) != n)
        fuzz::finding("state." + std::to_string(i) + "." + specs[j].name + " holds " +
                      std::to_string(s.blocks()[i].tensors[j].data.size()) + " floats, not " +
                      std::to_string(n));
    }
  }
  static fuzz::MemFile saved("fuzz_state_saved");
  s.save(saved.path());
  const State back = State::load(saved.path(), config);  // what save() wrote must load
  if (!same_bits(s, back)) fuzz::finding("state differs after save and load");
  State copy = s;
  const int64_t last = s.batch() - 1;
  copy.assign(last, s.slice(last));
  if (!same_bits(s, copy)) fuzz::finding("assign(b, slice(b)) changed the state");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static fuzz::MemFile file("fuzz_state");
  const auto& path = file.write(data, size);
  for (const ModelConfig& config : fuzz::state_configs()) {
    State s;
    try {
      s = State::load(path, config);
    } catch (const InvalidInput& e) {
      fuzz::require_named(e, path.string());
      continue;
    }
    check_loaded(s, config);
  }
  return 0;
}
