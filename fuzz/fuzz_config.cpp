// config.json: parse_config, what load_config runs on the file's text (xLSTM Large in the Hugging
// Face or NX-AI format; a family config is handed on to the family parser, which
// fuzz_family_config covers on its own). A config that loads must give everything `xlstm info`
// derives from it (fuzz/config_checks.h).
#include <cstddef>
#include <cstdint>
#include <string>

#include "config_checks.h"

using namespace xlstm;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string source = "fuzz/config.json";
  const std::string text(reinterpret_cast<const char*>(data), size);
  LoadedConfig loaded;
  try {
    loaded = parse_config(text, source);
  } catch (const InvalidInput& e) {
    fuzz::require_named(e, source);
    return 0;
  }
  fuzz::check_loaded_config(loaded.config);  // outside the try: no error is expected here
  return 0;
}
