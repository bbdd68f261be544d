#pragma once
// Configs of random family stacks for the shape tests: the m1s1 fixture's config
// (tests/fixtures/family) with another width, depth, block signature ("7:1", "0:1", ...) and
// sLSTM head count, vocabulary 211. Callers adjust the JSON further and parse it.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

namespace xlstm::testing {

inline nlohmann::json family_shape_json(int64_t E, int64_t blocks, const std::string& signature,
                                        int64_t slstm_heads) {
  std::ifstream in(std::filesystem::path(XLSTM_FIXTURES_DIR) / "family" / "m1s1" / "config.json");
  nlohmann::json j = nlohmann::json::parse(in);
  j["embedding_dim"] = E;
  j["num_blocks"] = blocks;
  j.erase("slstm_at");
  j.erase("_block_map");
  j["block_signature"] = signature;
  j["vocab_size"] = 211;
  j["slstm_block"]["slstm"]["num_heads"] = slstm_heads;
  j["slstm_block"]["slstm"].erase("hidden_size");
  return j;
}

}  // namespace xlstm::testing
