#include <charconv>

#include "commands.h"
#include "xlstm/error.h"
#include "xlstm/threads.h"

namespace xlstm::cli {

std::vector<int32_t> parse_ids(const std::string& text, const std::string& flag) {
  std::vector<int32_t> ids;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find(',', pos);
    if (end == std::string::npos) end = text.size();
    const std::string item = text.substr(pos, end - pos);
    int32_t v = 0;
    auto [p, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    if (item.empty() || ec != std::errc() || p != item.data() + item.size() || v < 0) {
      throw InvalidInput(tagged("cli", flag + ": '" + item + "' is not a non-negative integer token id"));
    }
    ids.push_back(v);
    pos = end + 1;
  }
  return ids;
}

LoadOptions::WeightDType parse_weight_type(const std::string& name) {
  if (name == "auto") return LoadOptions::WeightDType::Auto;
  if (name == "f32") return LoadOptions::WeightDType::F32;
  if (name == "bf16") return LoadOptions::WeightDType::BF16;
  throw InvalidInput(tagged("cli", "--weights: '" + name + "' is not one of auto, f32, bf16"));
}

void apply_threads(int threads) { set_num_threads(threads); }

}  // namespace xlstm::cli
