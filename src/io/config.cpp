#include <cmath>
#include <cstdint>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <variant>

#include "core/regular_file.h"
#include "io/family_config.h"
#include "io/json_section.h"
#include "model/block_registry.h"
#include "xlstm/config.h"
#include "xlstm/error.h"

namespace xlstm {

namespace {

using nlohmann::json;

// One row per config field: JSON key(s), member, whether required, and a range check.
struct Field {
  std::vector<const char*> keys;  // first = canonical; later ones are aliases with lower precedence
  std::variant<int64_t ModelConfig::*, double ModelConfig::*, bool ModelConfig::*,
               std::string ModelConfig::*>
      member;
  bool required = false;
  std::function<std::string(const ModelConfig&)>
      check;  // returns "" if fine, else what was expected
};

std::string positive(int64_t v) {
  return v > 0 ? "" : "a positive integer";
}

// Sizes past these are typos, not models: refusing them here keeps derived sizes far from
// int64 overflow and nothing is allocated for them.
std::string positive_at_most(int64_t v, int64_t max) {
  return v > 0 && v <= max ? "" : "a positive integer of at most " + std::to_string(max);
}

std::string factor(double v) {
  return v > 0 && v <= 64 ? "" : "a positive number of at most 64";
}

const std::vector<Field>& fields() {
  static const std::vector<Field> table = {
      {{"embedding_dim", "hidden_size"},
       &ModelConfig::embedding_dim,
       true,
       [](auto& c) { return positive_at_most(c.embedding_dim, int64_t{1} << 18); }},
      {{"num_heads"},
       &ModelConfig::num_heads,
       true,
       [](auto& c) { return positive_at_most(c.num_heads, int64_t{1} << 16); }},
      {{"num_blocks", "num_hidden_layers"},
       &ModelConfig::num_blocks,
       true,
       [](auto& c) { return positive_at_most(c.num_blocks, int64_t{1} << 16); }},
      {{"vocab_size"},
       &ModelConfig::vocab_size,
       true,
       [](auto& c) { return positive_at_most(c.vocab_size, int64_t{1} << 26); }},
      {{"use_bias"}, &ModelConfig::use_bias, false, nullptr},
      {{"norm_eps"},
       &ModelConfig::norm_eps,
       false,
       [](auto& c) { return c.norm_eps > 0 ? "" : "a positive number"; }},
      {{"norm_reduction_force_float32"},
       &ModelConfig::norm_reduction_force_float32,
       false,
       nullptr},
      {{"add_out_norm"}, &ModelConfig::add_out_norm, false, nullptr},
      {{"qk_dim_factor"},
       &ModelConfig::qk_dim_factor,
       false,
       [](auto& c) { return factor(c.qk_dim_factor); }},
      {{"v_dim_factor"},
       &ModelConfig::v_dim_factor,
       false,
       [](auto& c) { return factor(c.v_dim_factor); }},
      {{"chunk_size"},
       &ModelConfig::chunk_size,
       false,
       [](auto& c) { return positive(c.chunk_size); }},
      {{"eps"},
       &ModelConfig::eps,
       false,
       [](auto& c) { return c.eps > 0 ? "" : "a positive number"; }},
      {{"ffn_proj_factor"},
       &ModelConfig::ffn_proj_factor,
       false,
       [](auto& c) { return factor(c.ffn_proj_factor); }},
      {{"ffn_round_up_to_multiple_of"},
       &ModelConfig::ffn_round_up_to_multiple_of,
       false,
       [](auto& c) { return positive_at_most(c.ffn_round_up_to_multiple_of, int64_t{1} << 20); }},
      {{"gate_soft_cap"},
       &ModelConfig::gate_soft_cap,
       false,
       [](auto& c) { return c.gate_soft_cap > 0 ? "" : "a positive number"; }},
      {{"output_logit_soft_cap"},
       &ModelConfig::output_logit_soft_cap,
       false,
       [](auto& c) { return c.output_logit_soft_cap > 0 ? "" : "a positive number"; }},
      {{"weight_mode"},
       &ModelConfig::weight_mode,
       false,
       [](auto& c) {
         return c.weight_mode == "single" || c.weight_mode == "fused" ? ""
                                                                      : "\"single\" or \"fused\"";
       }},
      {{"tie_word_embeddings"}, &ModelConfig::tie_word_embeddings, false, nullptr},
      {{"bos_token_id"}, &ModelConfig::bos_token_id, false, nullptr},
      {{"eos_token_id"}, &ModelConfig::eos_token_id, false, nullptr},
      {{"pad_token_id"}, &ModelConfig::pad_token_id, false, nullptr},
      {{"force_bos_token_insert"}, &ModelConfig::force_bos_token_insert, false, nullptr},
  };
  return table;
}

// Keys the references write that do not change inference (kernel choices, training-only, metadata).
const std::set<std::string>& known_ignored_keys() {
  static const std::set<std::string> keys = {"_name_or_path",
                                             "architectures",
                                             "model_type",
                                             "torch_dtype",
                                             "dtype",
                                             "transformers_version",
                                             "add_embedding_dropout",
                                             "add_forward_backend_padding",
                                             "add_post_blocks_norm",
                                             "add_post_norm",
                                             "add_qk_norm",
                                             "cell_norm_eps",
                                             "head_dim",
                                             "igate_bias_init_range",
                                             "mlstm_round_up_to_multiple_of",
                                             "forward_backend_name",
                                             "step_backend_name",
                                             "chunkwise_kernel",
                                             "sequence_kernel",
                                             "step_kernel",
                                             "mode",
                                             "return_last_states",
                                             "autocast_kernel_dtype",
                                             "inference_state_dtype",
                                             "use_cache",
                                             "max_inference_chunksize",
                                             "output_attentions",
                                             "output_hidden_states",
                                             "return_dict",
                                             "is_encoder_decoder",
                                             "tie_encoder_decoder",
                                             "chunk_size_feed_forward",
                                             "id2label",
                                             "label2id",
                                             "problem_type",
                                             "tokenizer_class",
                                             "prefix",
                                             "sep_token_id",
                                             "decoder_start_token_id",
                                             "task_specific_params",
                                             "max_batch_size",
                                             "max_length"};
  return keys;
}

[[noreturn]] void fail(const std::string& src, const std::string& key, const std::string& what) {
  throw InvalidInput(tagged("config", src + ": '" + key + "' " + what));
}

std::string json_type(const json& v) {
  return v.type_name();
}

void assign(ModelConfig& c, const Field& f, const std::string& key, const json& v,
            const std::string& src) {
  std::visit(
      [&](auto member) {
        using T = std::remove_reference_t<decltype(c.*member)>;
        if constexpr (std::is_same_v<T, bool>) {
          if (!v.is_boolean()) fail(src, key, "must be a boolean, got " + json_type(v));
          c.*member = v.get<bool>();
        } else if constexpr (std::is_same_v<T, int64_t>) {
          // Integral floats (64.0, 1e3) count as integers; nlohmann also reads an integer literal
          // past 2^64 as a float. Past +-9e18 neither fits int64 (casting it is undefined).
          const bool integral_float =
              v.is_number_float() && std::floor(v.get<double>()) == v.get<double>();
          if ((integral_float && !(std::fabs(v.get<double>()) < 9.0e18)) ||
              (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t{INT64_MAX})) {
            fail(src, key, "is out of range: " + v.dump());
          } else if (integral_float) {
            c.*member = static_cast<int64_t>(v.get<double>());
          } else if (!v.is_number_integer()) {
            fail(src, key, "must be an integer, got " + json_type(v) + " " + v.dump());
          } else {
            c.*member = v.get<int64_t>();
          }
        } else if constexpr (std::is_same_v<T, double>) {
          if (!v.is_number()) fail(src, key, "must be a number, got " + json_type(v));
          c.*member = v.get<double>();
        } else {
          if (!v.is_string()) fail(src, key, "must be a string, got " + json_type(v));
          c.*member = v.get<std::string>();
        }
      },
      f.member);
}

}  // namespace

int64_t ModelConfig::qk_dim() const {
  return static_cast<int64_t>(static_cast<double>(embedding_dim) * qk_dim_factor);
}
int64_t ModelConfig::v_dim() const {
  return static_cast<int64_t>(static_cast<double>(embedding_dim) * v_dim_factor);
}

// Python: int(((x + m - 1) // m) * m) on a float x: floor division, so x in (64n, 64n+1) rounds
// down.
int64_t ModelConfig::ffn_dim() const {
  const double x = static_cast<double>(embedding_dim) * ffn_proj_factor;
  const auto m = static_cast<double>(ffn_round_up_to_multiple_of);
  return static_cast<int64_t>(std::floor((x + m - 1) / m) * m);
}

LoadedConfig parse_config(const std::string& text, const std::string& src) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    throw InvalidInput(tagged("config", src + ": invalid JSON: " + e.what()));
  }
  if (!j.is_object())
    throw InvalidInput(tagged("config", src + ": top level must be a JSON object"));
  if (is_family_config(j)) return parse_family_config(j, src);

  LoadedConfig out;
  ModelConfig& c = out.config;
  std::set<std::string> consumed;
  for (const auto& f : fields()) {
    const char* used = nullptr;
    for (const char* key : f.keys) {
      consumed.insert(key);
      if (!j.contains(key) || j[key].is_null()) continue;
      if (used == nullptr) {
        assign(c, f, key, j[key], src);
        used = key;
      } else if (j[key] != j[used]) {
        // HF keeps e.g. hidden_size=4096 by default next to a smaller embedding_dim; the first key
        // wins.
        out.warnings.push_back(src + ": '" + key + "' = " + j[key].dump() + " differs from '" +
                               used + "' = " + j[used].dump() + "; using '" + used + "'");
      }
    }
    if (used == nullptr && f.required) {
      std::string names = f.keys[0];
      for (size_t i = 1; i < f.keys.size(); ++i) names += std::string("' or '") + f.keys[i];
      throw InvalidInput(tagged("config", src + ": missing required key '" + names + "'"));
    }
  }
  std::set<std::string> known = consumed;
  known.insert(known_ignored_keys().begin(), known_ignored_keys().end());
  JsonSection(j, src).warn_unknown_keys(known, out.warnings);
  for (const auto& f : fields()) {
    if (f.check) {
      if (auto expected = f.check(c); !expected.empty())
        fail(src, f.keys[0], "must be " + expected);
    }
  }
  if (c.qk_dim() % c.num_heads != 0 || c.qk_dim() == 0) {
    fail(src, "qk_dim_factor",
         "gives qk_dim " + std::to_string(c.qk_dim()) +
             " (embedding_dim * qk_dim_factor), which must be a positive multiple of num_heads = " +
             std::to_string(c.num_heads));
  }
  if (c.v_dim() % c.num_heads != 0 || c.v_dim() == 0) {
    fail(src, "v_dim_factor",
         "gives v_dim " + std::to_string(c.v_dim()) +
             " (embedding_dim * v_dim_factor), which must be a positive multiple of num_heads = " +
             std::to_string(c.num_heads));
  }
  if (c.ffn_dim() <= 0) {
    fail(src, "ffn_proj_factor",
         "gives ffn_dim " + std::to_string(c.ffn_dim()) +
             " (embedding_dim * ffn_proj_factor rounded to a multiple of " +
             std::to_string(c.ffn_round_up_to_multiple_of) +
             ", as the reference rounds it), which must be positive");
  }
  for (const char* id : {"bos_token_id", "eos_token_id"}) {
    const int64_t v = std::string(id) == "bos_token_id" ? c.bos_token_id : c.eos_token_id;
    if (v < 0 || v >= c.vocab_size)
      fail(src, id,
           "= " + std::to_string(v) + " is outside the vocabulary [0, " +
               std::to_string(c.vocab_size) + ")");
  }
  check_model_size(c, src);
  return out;
}

LoadedConfig load_config(const std::filesystem::path& path) {
  require_regular_file(path, "config");
  std::ifstream in(path);
  if (!in) throw InvalidInput(tagged("config", path.string() + ": cannot open"));
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_config(ss.str(), path.string());
}

namespace {
// The layout as `info` prints it: one letter per block, and for stacks of more than 64 blocks
// runs of one type as "m×7" (a 65,536-block layout would otherwise be a 131,071-character line).
std::string printable_layout(const ModelConfig& c) {
  std::string full = c.layout();
  if (c.num_blocks <= 64) return full;
  std::string out;
  std::istringstream letters(full);
  std::string prev, cur;
  int64_t run = 0;
  auto flush = [&] {
    if (run == 0) return;
    out += (out.empty() ? "" : " ") + prev + (run > 1 ? "\u00d7" + std::to_string(run) : "");
  };
  while (letters >> cur) {
    if (cur != prev) {
      flush();
      prev = cur;
      run = 0;
    }
    ++run;
  }
  flush();
  return out;
}

// The original family: model-level fields, then one line per distinct block configuration.
std::string describe_family(const ModelConfig& c) {
  std::ostringstream o;
  o << "family                       xlstm (mLSTM v1 / sLSTM)\n"
    << "embedding_dim (E)            " << c.embedding_dim << "\n"
    << "num_blocks                   " << c.num_blocks << "\n"
    << "vocab_size (V)               " << c.vocab_size << "\n"
    << "layout                       " << printable_layout(c) << "\n";
  std::map<std::string, int64_t> params_by_type;
  std::set<std::string> described;
  for (int i = 0; i < static_cast<int>(c.num_blocks); ++i) {
    const BlockSite site = block_site(c, i);
    const BlockType& t = block_type(site.spec.type);
    params_by_type[t.name()] += t.parameter_count(site);
    if (described.insert(t.name()).second)
      o << "block                        " << t.describe(site) << "\n";
  }
  for (const auto& [name, n] : params_by_type)
    o << "parameters in " << name << std::string(name.size() < 15 ? 15 - name.size() : 1, ' ') << n
      << "\n";
  o << "bias / tie_weights           " << (c.use_bias ? "true" : "false") << " / "
    << (c.tie_word_embeddings ? "true" : "false") << "\n"
    << "post-blocks norm             " << (c.add_out_norm ? "LayerNorm" : "none") << "\n"
    << "parameters                   " << c.parameter_count() << "\n"
    << "state per sequence (fp32)    " << c.state_floats_per_sequence() * 4 << " bytes\n";
  return o.str();
}
}  // namespace

std::string describe(const ModelConfig& c) {
  if (c.family == Family::V1) return describe_family(c);
  std::ostringstream o;
  o << "embedding_dim (E)            " << c.embedding_dim << "\n"
    << "num_heads (NH)               " << c.num_heads << "\n"
    << "num_blocks                   " << c.num_blocks << "\n"
    << "vocab_size (V)               " << c.vocab_size << "\n"
    << "qk_dim / head (DHQK)         " << c.qk_dim() << " / " << c.qk_head_dim() << "\n"
    << "v_dim / head (DHV)           " << c.v_dim() << " / " << c.v_head_dim() << "\n"
    << "ffn_dim (F)                  " << c.ffn_dim() << "\n"
    << "weight_mode                  " << c.weight_mode << "\n"
    << "use_bias                     " << (c.use_bias ? "true" : "false") << "\n"
    << "tie_word_embeddings          " << (c.tie_word_embeddings ? "true" : "false") << "\n"
    << "gate_soft_cap                " << c.gate_soft_cap << "\n"
    << "output_logit_soft_cap        " << c.output_logit_soft_cap << "\n"
    << "norm_eps / eps               " << c.norm_eps << " / " << c.eps << "\n"
    << "chunk_size                   " << c.chunk_size << "\n"
    << "bos / eos / pad              " << c.bos_token_id << " / " << c.eos_token_id << " / "
    << c.pad_token_id << "\n"
    << "force_bos_token_insert       " << (c.force_bos_token_insert ? "true" : "false") << "\n"
    << "layout                       " << printable_layout(c) << "\n"
    << "parameters                   " << c.parameter_count() << "\n"
    << "state per sequence (fp32)    " << c.state_floats_per_sequence() * 4 << " bytes\n";
  return o.str();
}

}  // namespace xlstm
