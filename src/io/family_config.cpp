#include "io/family_config.h"

#include <algorithm>
#include <map>
#include <set>

#include "io/json_section.h"
#include "model/block_registry.h"
#include "xlstm/error.h"

namespace xlstm {

namespace {

constexpr int64_t kMaxBlocks = 1 << 16;
constexpr int64_t kMaxDim = int64_t{1} << 18;

const std::set<std::string>& known_keys() {
  static const std::set<std::string> keys = {"mlstm_block",
                                             "slstm_block",
                                             "context_length",
                                             "num_blocks",
                                             "embedding_dim",
                                             "add_post_blocks_norm",
                                             "bias",
                                             "dropout",
                                             "slstm_at",
                                             "_block_map",
                                             "vocab_size",
                                             "tie_weights",
                                             "weight_decay_on_embedding",
                                             "add_embedding_dropout",
                                             "block_types",
                                             "block_signature",
                                             "bos_token_id",
                                             "eos_token_id",
                                             "pad_token_id"};
  return keys;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : " ") + s;
  return out;
}

std::vector<std::string> from_slstm_at(const JsonSection& top, int64_t N, bool mlstm_null) {
  const auto& v = top.json()["slstm_at"];
  std::vector<std::string> types(static_cast<size_t>(N), "mlstm_v1");
  if (v.is_string()) {
    if (v.get<std::string>() != "all") top.fail("slstm_at", "must be a list of indices or \"all\"");
    std::fill(types.begin(), types.end(), "slstm");
    return types;
  }
  if (!v.is_array()) top.fail("slstm_at", "must be a list of indices or \"all\"");
  for (const auto& e : v) {
    if (!e.is_number_integer()) top.fail("slstm_at", "entries must be integers, got " + e.dump());
    const int64_t i = e.get<int64_t>();
    if (i < 0 || i >= N) {
      top.fail("slstm_at", "index " + std::to_string(i) +
                               " is outside [0, num_blocks = " + std::to_string(N) + ")");
    }
    if (types[static_cast<size_t>(i)] == "slstm")
      top.fail("slstm_at", "index " + std::to_string(i) + " appears twice");
    types[static_cast<size_t>(i)] = "slstm";
  }
  if (mlstm_null && std::count(types.begin(), types.end(), "mlstm_v1") > 0) {
    top.fail("slstm_at",
             "leaves mLSTM positions, but mlstm_block is null (the official package "
             "would silently make every block sLSTM)");
  }
  return types;
}

std::vector<std::string> from_signature(const JsonSection& top, int64_t N) {
  const std::string sig = top.string("block_signature", "");
  const auto colon = sig.find(':');
  int64_t a = -1, b = -1;
  try {
    if (colon != std::string::npos && sig.find_first_not_of("0123456789:") == std::string::npos) {
      a = std::stoll(sig.substr(0, colon));
      b = std::stoll(sig.substr(colon + 1));
    }
  } catch (const std::exception&) {
    a = -1;
  }
  if (a < 0 || b < 0 || a + b == 0 || a > kMaxBlocks || b > kMaxBlocks)
    top.fail("block_signature", "= \"" + sig + "\" must be \"m:s\", e.g. \"7:1\"");
  if (N % (a + b) != 0) {
    top.fail("block_signature", "\"" + sig + "\" needs num_blocks a multiple of " +
                                    std::to_string(a + b) + ", got " + std::to_string(N));
  }
  std::vector<std::string> types;
  for (int64_t i = 0; i < N; ++i) types.push_back(i % (a + b) < a ? "mlstm_v1" : "slstm");
  return types;
}

std::vector<std::string> from_list(const JsonSection& top, int64_t N) {
  const auto& v = top.json()["block_types"];
  if (!v.is_array()) top.fail("block_types", "must be a list of block type names");
  if (static_cast<int64_t>(v.size()) != N) {
    top.fail("block_types",
             "has " + std::to_string(v.size()) + " entries for num_blocks = " + std::to_string(N));
  }
  std::vector<std::string> types;
  for (const auto& e : v) {
    if (!e.is_string()) top.fail("block_types", "entries must be strings, got " + e.dump());
    try {
      types.push_back(block_type(e.get<std::string>()).name());
    } catch (const InvalidInput& err) {
      top.fail("block_types", err.what());
    }
  }
  return types;
}

std::string letters(const std::vector<std::string>& types) {
  std::vector<std::string> out;
  for (const auto& t : types) out.push_back(std::string(1, block_type(t).letter()));
  return join(out);
}

}  // namespace

bool is_family_config(const nlohmann::json& j) {
  if (!j.is_object()) return false;
  for (const char* k : {"mlstm_block", "slstm_block", "slstm_at", "block_types", "block_signature"})
    if (j.contains(k)) return true;
  return false;
}

namespace {

LoadedConfig parse_checked(const nlohmann::json& j, const std::string& src) {
  const JsonSection top(j, src);
  LoadedConfig out;
  ModelConfig& c = out.config;
  c.family = Family::V1;
  auto sized = [&](const char* key, int64_t fallback, int64_t max) {
    const int64_t v = top.integer(key, fallback);
    if (v <= 0 || v > max)
      top.fail(key, "= " + std::to_string(v) + " must be a positive integer (at most " +
                        std::to_string(max) + ")");
    return v;
  };
  c.vocab_size = sized("vocab_size", -1, int64_t{1} << 26);
  c.embedding_dim = sized("embedding_dim", 128, kMaxDim);
  c.num_blocks = sized("num_blocks", 1, kMaxBlocks);
  c.tie_word_embeddings = top.boolean("tie_weights", false);
  c.add_out_norm = top.boolean("add_post_blocks_norm", true);
  c.use_bias = top.boolean("bias", false);
  c.norm_eps = 1e-5;
  c.output_logit_soft_cap = 0;
  c.num_heads = 0;  // per block type
  c.bos_token_id = top.integer("bos_token_id", 0);
  c.eos_token_id = top.integer("eos_token_id", 0);
  c.pad_token_id = top.integer("pad_token_id", 0);
  for (const char* id : {"bos_token_id", "eos_token_id", "pad_token_id"}) {
    const int64_t v = top.integer(id, 0);
    if (v < 0 || v >= c.vocab_size)
      top.fail(id, "= " + std::to_string(v) + " is outside the vocabulary [0, " +
                       std::to_string(c.vocab_size) + ")");
  }
  const int64_t N = c.num_blocks;
  const bool mlstm_null = !top.has("mlstm_block");

  // Every layout form given, each as a list of registry names; they must agree.
  std::vector<std::pair<std::string, std::vector<std::string>>> forms;
  if (top.has("block_types")) forms.push_back({"block_types", from_list(top, N)});
  if (top.has("block_signature")) forms.push_back({"block_signature", from_signature(top, N)});
  if (top.has("slstm_at")) forms.push_back({"slstm_at", from_slstm_at(top, N, mlstm_null)});
  if (forms.empty()) {
    forms.push_back({"default", std::vector<std::string>(static_cast<size_t>(N),
                                                         mlstm_null ? "slstm" : "mlstm_v1")});
  }
  for (size_t i = 1; i < forms.size(); ++i) {
    if (forms[i].second != forms[0].second) {
      top.fail(forms[i].first, "gives the layout '" + letters(forms[i].second) + "', but " +
                                   forms[0].first + " gives '" + letters(forms[0].second) + "'");
    }
  }
  const std::vector<std::string>& types = forms[0].second;
  // The official package records the layout as _block_map ("0,1,...": 0 mLSTM, 1 sLSTM).
  if (top.has("_block_map")) {
    std::string expect;
    for (const auto& t : types)
      expect += std::string(expect.empty() ? "" : ",") + (t == "slstm" ? "1" : "0");
    if (top.string("_block_map", "") != expect)
      top.fail("_block_map", "= \"" + top.string("_block_map", "") +
                                 "\" disagrees with the layout '" + letters(types) + "'");
  }

  // Each block type parses its section once; positions share it.
  std::map<std::string, std::shared_ptr<const BlockConfig>> parsed;
  for (int64_t i = 0; i < N; ++i) {
    const BlockType& t = block_type(types[static_cast<size_t>(i)]);
    const char* key = t.family_config_key();
    if (key == nullptr) {
      throw InvalidInput(tagged("config", src + ": block " + std::to_string(i) + " is '" +
                                              t.name() + "', which this family cannot hold"));
    }
    if (!parsed.count(t.name())) {
      if (!top.has(key)) {
        throw InvalidInput(tagged("config", src + ": block " + std::to_string(i) + " is '" +
                                                t.name() + "' but '" + key + "' is missing"));
      }
      parsed[t.name()] = t.parse_config(j[key], c, src + ": " + key, out.warnings);
    }
    c.blocks.push_back({t.name(), parsed[t.name()]});
  }
  top.warn_unknown_keys(known_keys(), out.warnings);
  check_model_size(c, src);
  return out;
}

}  // namespace

LoadedConfig parse_family_config(const nlohmann::json& j, const std::string& src) {
  try {
    return parse_checked(j, src);
  } catch (const InvalidInput& e) {
    // A misspelt top-level key took its default, which may be what the error is about: say so.
    if (!j.is_object()) throw;
    std::vector<std::string> unknown;
    JsonSection(j, src).warn_unknown_keys(known_keys(), unknown);
    std::string hints;
    for (const auto& w : unknown)
      if (w.find("did you mean") != std::string::npos) hints += "; note: " + w;
    if (hints.empty()) throw;
    throw InvalidInput(e.what() + hints);
  }
}

}  // namespace xlstm
