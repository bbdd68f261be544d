// The original family's config (src/io/family_config.cpp and each block type's section parser):
// every JSON input goes to parse_family_config, whether or not it carries the keys that make
// parse_config choose the family, so the fuzzer explores the layout forms and the mlstm_block /
// slstm_block sections directly. A config that loads must give everything `xlstm info` derives
// from it (fuzz/config_checks.h).
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "config_checks.h"
#include "io/family_config.h"

using namespace xlstm;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string source = "fuzz/family/config.json";
  // JSON syntax is fuzz_config's concern (parse_config parses the text there); here only
  // well-formed JSON goes on.
  const auto j = nlohmann::json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return 0;
  LoadedConfig loaded;
  try {
    loaded = parse_family_config(j, source);
  } catch (const InvalidInput& e) {
    fuzz::require_named(e, source);
    return 0;
  }
  fuzz::check_loaded_config(loaded.config);
  return 0;
}
