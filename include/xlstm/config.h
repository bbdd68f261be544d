#pragma once
// Typed xLSTM Large (xLSTM-7B architecture) config, read from config.json in either the Hugging
// Face xLSTMConfig format or the original NX-AI format. All fields live in one table
// (src/io/config.cpp).
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace xlstm {

struct ModelConfig {
  // Required.
  int64_t embedding_dim = 0;  // E (HF alias: hidden_size)
  int64_t num_heads = 0;      // NH
  int64_t num_blocks = 0;     // HF alias: num_hidden_layers
  int64_t vocab_size = 0;     // V
  // Optional, with the reference defaults.
  bool use_bias = false;
  double norm_eps = 1e-6;
  bool norm_reduction_force_float32 = true;
  bool add_out_norm = true;
  double qk_dim_factor = 0.5;
  double v_dim_factor = 1.0;
  int64_t chunk_size = 64;
  double eps = 1e-6;  // mLSTM normalizer eps
  double ffn_proj_factor = 2.667;
  int64_t ffn_round_up_to_multiple_of = 64;
  double gate_soft_cap = 15.0;
  double output_logit_soft_cap = 30.0;
  std::string weight_mode = "single";  // "single" or "fused"
  bool tie_word_embeddings = false;
  int64_t bos_token_id = 0;
  int64_t eos_token_id = 2;
  int64_t pad_token_id = 1;
  bool force_bos_token_insert = false;

  // Derived (spec §1.2).
  int64_t qk_dim() const;
  int64_t v_dim() const;
  int64_t qk_head_dim() const { return qk_dim() / num_heads; }  // DHQK
  int64_t v_head_dim() const { return v_dim() / num_heads; }    // DHV
  int64_t ffn_dim() const;                                      // F
  int64_t parameter_count() const;
  int64_t state_floats_per_sequence() const;  // C + n + m over all blocks
};

struct LoadedConfig {
  ModelConfig config;
  std::vector<std::string> warnings;  // unknown keys, alias conflicts; one line each
};

// Parses and validates; throws InvalidInput naming the file and key.
LoadedConfig load_config(const std::filesystem::path& path);
LoadedConfig parse_config(const std::string& json_text, const std::string& source_name);

// One "key = value" line per field, plus derived dims.
std::string describe(const ModelConfig& c);

}  // namespace xlstm
