#pragma once
// Typed model config, read from config.json. Two families:
// - xLSTM Large (xLSTM-7B architecture): the Hugging Face xLSTMConfig format or the original NX-AI
//   format; flat, every block an "mlstm_large" block whose parameters are the fields below (one
//   table in src/io/config.cpp).
// - the original xLSTM (NeurIPS 2024): the official xLSTMLMModelConfig as JSON, mLSTM v1 and
//   sLSTM blocks mixed in one stack (src/io/family_config.cpp); each block type parses its own
//   section into its typed BlockConfig (src/blocks/<type>/).
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace xlstm {

enum class Family {
  Large,  // xLSTM Large: RMS norms, soft-capped logits
  V1,     // the original xLSTM: LayerNorm (1 + w) post-blocks norm, plain logits
};

// A block type's own parameters; each registered type derives its typed config from it.
struct BlockConfig {
  virtual ~BlockConfig() = default;
};

// One position of the stack: its registered block type and that type's config (null for
// mlstm_large, whose parameters are the ModelConfig's fields).
struct BlockSpec {
  std::string type;
  std::shared_ptr<const BlockConfig> config;
};

struct ModelConfig {
  Family family = Family::Large;
  // The original family's stack, one spec per position. xLSTM Large keeps it empty: its stack is
  // num_blocks mlstm_large blocks. Read the stack through block_specs().
  std::vector<BlockSpec> blocks;
  std::vector<BlockSpec> block_specs() const;

  // Required.
  int64_t embedding_dim = 0;  // E (HF alias: hidden_size)
  int64_t num_heads = 0;      // NH
  int64_t num_blocks = 0;     // HF alias: num_hidden_layers
  int64_t vocab_size = 0;     // V
  // Optional, with the reference defaults.
  bool use_bias = false;   // the original family: bias
  double norm_eps = 1e-6;  // the original family: its LayerNorms' 1e-5
  bool norm_reduction_force_float32 = true;
  bool add_out_norm = true;  // the original family: add_post_blocks_norm
  double qk_dim_factor = 0.5;
  double v_dim_factor = 1.0;
  int64_t chunk_size = 64;
  double eps = 1e-6;  // mLSTM normalizer eps
  double ffn_proj_factor = 2.667;
  int64_t ffn_round_up_to_multiple_of = 64;
  double gate_soft_cap = 15.0;
  double output_logit_soft_cap = 30.0;  // the original family: 0 (none)
  std::string weight_mode = "single";   // "single" or "fused"
  bool tie_word_embeddings = false;     // the original family: tie_weights
  int64_t bos_token_id = 0;
  int64_t eos_token_id = 2;
  int64_t pad_token_id = 1;
  bool force_bos_token_insert = false;

  // The layout as one letter per block, e.g. "m m m m m m m s".
  std::string layout() const;

  // Derived (spec §1.2): xLSTM Large's dims.
  int64_t qk_dim() const;
  int64_t v_dim() const;
  int64_t qk_head_dim() const { return qk_dim() / num_heads; }  // DHQK
  int64_t v_head_dim() const { return v_dim() / num_heads; }    // DHV
  int64_t ffn_dim() const;                                      // F
  int64_t parameter_count() const;            // over all blocks, through the registry
  int64_t state_floats_per_sequence() const;  // every block's state tensors
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
