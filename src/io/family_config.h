#pragma once
// The original xLSTM family's config (the official xLSTMLMModelConfig as JSON, what
// dataclasses.asdict writes): model-level fields, the stack's layout and one section per block
// type, each parsed by its registered type.
#include <nlohmann/json.hpp>
#include <string>

#include "xlstm/config.h"

namespace xlstm {

// Whether j is a family config: it has mlstm_block, slstm_block, slstm_at, block_types or
// block_signature.
bool is_family_config(const nlohmann::json& j);

// Layout, in order of precedence, all that are given must agree:
//   "block_types":     ["mlstm", "slstm", ...] one registered name (or alias) per position;
//   "block_signature": "7:1": groups of 7 mLSTM blocks then 1 sLSTM block, num_blocks a multiple
//                      of 8 ("1:0" all mLSTM, "0:1" all sLSTM);
//   "slstm_at":        the official list of sLSTM positions, or "all".
// Without any: all mLSTM (the official default), or all sLSTM when mlstm_block is null.
LoadedConfig parse_family_config(const nlohmann::json& j, const std::string& src);

}  // namespace xlstm
