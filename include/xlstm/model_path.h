#pragma once
// A model argument as users of Hugging Face tools give it: a directory, or a hub id "org/name"
// (optionally "org/name@revision") found in the local Hugging Face cache. Nothing is downloaded.
#include <filesystem>
#include <string>

namespace xlstm {

// The hub cache huggingface_hub uses: $HF_HUB_CACHE, else $HF_HOME/hub, else
// $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub.
std::filesystem::path hf_hub_cache_dir();

// An existing path, or anything that is not a hub id, comes back as it is (loading then names what
// is wrong with it). A hub id comes back as its snapshot directory
// (<cache>/models--org--name/snapshots/<commit of refs/<revision>>); when the cache has none,
// InvalidInput names the cache directory it looked in and how to get the model.
std::filesystem::path resolve_model_path(const std::string& arg);

}  // namespace xlstm
