// model.safetensors.index.json (TensorStore::open_dir on a sharded model): the weight_map, shard
// names (no path may leave the model directory) and the tensors each shard must hold. The input
// is the index file of a scratch model directory that holds two small shards, written once.
//
// Properties: every tensor the index names is found, in a shard that has it; errors are
// InvalidInput naming the directory's file.
#include <stdlib.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "fuzz_util.h"
#include "io/safetensors.h"

using namespace xlstm;

namespace {

const std::filesystem::path& model_dir() {
  static const std::filesystem::path dir = [] {
    std::string tmpl = (std::filesystem::temp_directory_path() / "fuzz_index.XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) fuzz::finding("mkdtemp failed");
    const std::filesystem::path d = tmpl;
    const float f[4] = {1, 2, 3, 4};
    write_safetensors(d / "model-00001-of-00002.safetensors",
                      {f32_tensor("backbone.embeddings.weight", {2, 2}, f),
                       f32_tensor("backbone.norm.weight", {2}, f)});
    write_safetensors(d / "model-00002-of-00002.safetensors",
                      {f32_tensor("lm_head.weight", {1, 4}, f)}, {{"format", "pt"}});
    std::atexit([] { std::filesystem::remove_all(model_dir()); });
    return d;
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::filesystem::path& dir = model_dir();
  {
    std::ofstream out(dir / "model.safetensors.index.json", std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    if (!out) fuzz::finding("cannot write the index file");
  }
  try {
    const TensorStore store = TensorStore::open_dir(dir);
    for (const auto& name : store.names()) {
      const TensorInfo* t = store.find(name);
      if (t == nullptr || t->name != name) fuzz::finding("index names '" + name + "', not found");
      if (t->file.rfind(dir.string(), 0) != 0) fuzz::finding(name + " read from " + t->file);
    }
  } catch (const InvalidInput& e) {
    fuzz::require_named(e, dir.string());
  }
  return 0;
}
