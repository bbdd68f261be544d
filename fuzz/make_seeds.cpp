// Writes the seed corpora of the fuzz targets from the repository's own fixtures, small enough to
// commit (a few KB each): fuzz_make_seeds SOURCE_DIR OUT_DIR (docs/fuzzing.md).
//   safetensors/       fixture tensors of each dtype, cut to a few elements, metadata kept
//   safetensors_index/ the sharded fixture's index, pointed at fuzz_safetensors_index's shards
//   config/, family_config/   fixture config.json files as they are
//   tokenizer_json/    the bundled and fixture tokenizers cut to their first merges
//   tokenizer_roundtrip/      the tokenizer fixture's test inputs
//   npy/               token ids of the tiny Shakespeare text as .npy (int32/int64, v1/v2)
//   state/             states of fuzz/state_configs.h's models (B = 1, 2)
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "io/safetensors.h"
#include "state_configs.h"
#include "xlstm/npy.h"
#include "xlstm/state.h"
#include "xlstm/tokenizer.h"

using namespace xlstm;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + p.string());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + p.string());
}

// Seeds are (re)written by name; other files there (regression_* inputs of fixed findings) stay.
fs::path seed_dir(const fs::path& root, const char* name) {
  const fs::path d = root / name;
  fs::create_directories(d);
  return d;
}

// The first `keep` tensors of a fixture, each cut to at most 2 along every dim (its first
// elements: values do not matter to a parser), with the file's metadata.
void cut_safetensors(const fs::path& src, const fs::path& dst, size_t keep) {
  const SafetensorsFile f(src);
  std::vector<TensorToWrite> out;
  for (const auto& [name, t] : f.tensors()) {
    if (out.size() == keep) break;
    Shape shape = t.shape;
    for (auto& d : shape) d = std::min<int64_t>(d, 2);
    const size_t bytes = static_cast<size_t>(numel(shape)) * dtype_size(t.dtype);
    out.push_back({name, t.dtype, shape, std::vector<unsigned char>(t.data, t.data + bytes)});
  }
  write_safetensors(dst, out, f.metadata());
}

// A tokenizer cut to its first merges: the vocab keeps the tokens those merges use and make plus
// the first byte tokens, renumbered from 0 in the file's order; added tokens and post-processor
// ids follow. An optional text after a NUL byte is what fuzz_tokenizer_json encodes.
std::string cut_tokenizer(const fs::path& src, size_t merges_kept, const std::string& text) {
  json t = json::parse(read_file(src));
  json& model = t["model"];
  std::set<std::string> keep;
  json merges = json::array();
  for (const auto& m : model["merges"]) {
    if (merges.size() == merges_kept) break;
    std::string a, b;
    if (m.is_string()) {
      const auto s = m.get<std::string>();
      a = s.substr(0, s.find(' ')), b = s.substr(s.find(' ') + 1);
    } else {
      a = m[0], b = m[1];
    }
    keep.insert({a, b, a + b});
    merges.push_back(m);
  }
  std::vector<std::pair<int64_t, std::string>> by_id;
  for (const auto& [token, id] : model["vocab"].items())
    by_id.emplace_back(id.get<int64_t>(), token);
  std::sort(by_id.begin(), by_id.end());
  for (size_t i = 0; i < by_id.size() && i < 24; ++i) keep.insert(by_id[i].second);
  std::map<int64_t, int64_t> new_id;
  json vocab = json::object();
  for (const auto& [id, token] : by_id) {
    if (!keep.count(token)) continue;
    new_id[id] = static_cast<int64_t>(vocab.size());
    vocab[token] = new_id[id];
  }
  int64_t next = static_cast<int64_t>(vocab.size());
  if (t.contains("added_tokens") && t["added_tokens"].is_array()) {
    json added = json::array();
    for (auto a : t["added_tokens"]) {
      if (added.size() == 6) break;
      const int64_t id = a["id"];
      if (!new_id.count(id))
        new_id[id] = vocab.contains(a["content"]) ? vocab[a["content"]].get<int64_t>() : next++;
      a["id"] = new_id[id];
      added.push_back(a);
    }
    t["added_tokens"] = added;
  }
  model["vocab"] = vocab;
  model["merges"] = merges;
  // TemplateProcessing ids, wherever they sit (also inside a Sequence).
  std::function<void(json&)> remap = [&](json& p) {
    if (!p.is_object()) return;
    if (p.contains("processors"))
      for (auto& q : p["processors"]) remap(q);
    if (p.contains("special_tokens") && p["special_tokens"].is_object())
      for (auto& [name, entry] : p["special_tokens"].items())
        for (auto& id : entry["ids"])
          id = new_id.count(id.get<int64_t>()) ? new_id[id.get<int64_t>()] : 0;
  };
  if (t.contains("post_processor")) remap(t["post_processor"]);
  std::string out = t.dump();
  if (!text.empty()) out += std::string(1, '\0') + text;
  return out;
}

std::string npy(const std::string& descr, const std::vector<int64_t>& shape,
                const std::vector<int64_t>& ids, int major) {
  std::string dims;
  for (const auto d : shape) dims += std::to_string(d) + ",";
  if (shape.size() > 1) dims.pop_back();
  std::string header =
      "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (" + dims + "), }";
  const size_t prefix = major == 1 ? 10 : 12;
  while ((prefix + header.size() + 1) % 64 != 0) header.push_back(' ');
  header.push_back('\n');
  std::string out = std::string("\x93NUMPY", 6) + static_cast<char>(major) + '\0';
  for (size_t i = 0; i < prefix - 8; ++i)
    out.push_back(static_cast<char>((header.size() >> (8 * i)) & 0xff));
  out += header;
  const size_t width = descr == "<i4" ? 4 : 8;
  for (const int64_t id : ids)
    out.append(reinterpret_cast<const char*>(&id), width);  // little-endian
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s SOURCE_DIR OUT_DIR\n", argv[0]);
    return 2;
  }
  const fs::path src = argv[1], out = argv[2];
  const fs::path fx = src / "tests/fixtures";

  const fs::path st = seed_dir(out, "safetensors");
  cut_safetensors(fx / "models/hf_small/model.safetensors", st / "f32_weights.safetensors", 3);
  cut_safetensors(fx / "models/hf_small_bf16/model.safetensors", st / "bf16_weights.safetensors",
                  3);
  cut_safetensors(fx / "models/hf_small_f16/model.safetensors", st / "f16_weights.safetensors", 3);
  cut_safetensors(fx / "models/hf_small/ref_B1_S7.safetensors", st / "i64_reference.safetensors",
                  4);
  cut_safetensors(fx / "family/m1s1/reference.safetensors", st / "i32_reference.safetensors", 4);

  const fs::path ix = seed_dir(out, "safetensors_index");
  write_file(ix / "fixture_hf_sharded.json",
             read_file(fx / "models/hf_sharded/model.safetensors.index.json"));
  json index = json::parse(read_file(fx / "models/hf_sharded/model.safetensors.index.json"));
  index["weight_map"] = {{"backbone.embeddings.weight", "model-00001-of-00002.safetensors"},
                         {"backbone.norm.weight", "model-00001-of-00002.safetensors"},
                         {"lm_head.weight", "model-00002-of-00002.safetensors"}};
  write_file(ix / "scratch_shards.json", index.dump(1));

  const fs::path cf = seed_dir(out, "config");
  write_file(cf / "xlstm-7b.json", read_file(fx / "configs/xlstm-7b.json"));
  write_file(cf / "tiny-shakespeare.json", read_file(src / "models/tiny-shakespeare/config.json"));
  for (const char* m : {"hf_small", "nxai_fused_bias", "nxai_odd_heads"})
    write_file(cf / (std::string(m) + ".json"), read_file(fx / "models" / m / "config.json"));

  const fs::path ff = seed_dir(out, "family_config");
  for (const char* m : {"m1s1", "m7s1", "m_only", "s_only", "s_only_cudalayout"})
    write_file(ff / (std::string(m) + ".json"), read_file(fx / "family" / m / "config.json"));
  write_file(ff / "family-shakespeare.json",
             read_file(src / "models/family-shakespeare/config.json"));

  const fs::path tj = seed_dir(out, "tokenizer_json");
  const std::string text = "First Citizen: we're 42 <|endoftext|> caf\xc3\xa9\n";
  write_file(tj / "gpt-neox-20b.json",
             cut_tokenizer(src / "models/tokenizers/gpt-neox-20b/tokenizer.json", 40, text));
  write_file(tj / "tiny-shakespeare.json",
             cut_tokenizer(src / "models/tiny-shakespeare/tokenizer.json", 40, ""));
  for (const char* name : {"tiny_prefix", "tiny_split", "tiny_behaviors"})
    write_file(tj / (std::string(name) + ".json"),
               cut_tokenizer(fx / "tokenizer" / (std::string(name) + ".json"), 30,
                             name == std::string("tiny_split") ? text : ""));

  const fs::path rt = seed_dir(out, "tokenizer_roundtrip");
  const json expected = json::parse(read_file(fx / "tokenizer/expected.json"));
  // 16 seeds, seed k the inputs k, k + 16, k + 32, ... (each cut to 64 bytes) joined.
  std::vector<std::string> joined(16);
  for (size_t i = 0; i < expected["inputs_hex"].size(); ++i) {
    const std::string h = expected["inputs_hex"][i];
    for (size_t j = 0; j + 1 < h.size() && j < 128; j += 2)
      joined[i % 16].push_back(static_cast<char>(std::stoi(h.substr(j, 2), nullptr, 16)));
  }
  for (size_t k = 0; k < joined.size(); ++k) {
    char name[32];
    std::snprintf(name, sizeof name, "inputs_%02zu", k);
    write_file(rt / name, joined[k]);
  }

  const fs::path np = seed_dir(out, "npy");
  const Tokenizer tok = Tokenizer::from_file(src / "models/tiny-shakespeare/tokenizer.json");
  const std::string line = read_file(fx / "tiny_shakespeare/val.txt").substr(0, 64);
  std::vector<int64_t> ids;
  for (const int32_t id : tok.encode(line, false)) ids.push_back(id);
  if (ids.size() % 2) ids.pop_back();
  const auto S = static_cast<int64_t>(ids.size());
  write_file(np / "i64_1d_v1.npy", npy("<i8", {S}, ids, 1));
  write_file(np / "i32_2d_v1.npy", npy("<i4", {2, S / 2}, ids, 1));
  write_file(np / "i32_2d_v2.npy", npy("<i4", {S / 2, 2}, ids, 2));
  const std::vector<float> f(ids.begin(), ids.end());
  write_npy_f32(np / "f32_refused.npy", {2, S / 2}, f.data());

  const fs::path ss = seed_dir(out, "state");
  std::mt19937 rng(13);
  std::normal_distribution<float> normal;
  const char* names[] = {"large", "family"};
  for (size_t c = 0; c < fuzz::state_configs().size(); ++c) {
    for (const int64_t B : {1, 2}) {
      State s(fuzz::state_configs()[c], B);
      for (auto& b : s.blocks())
        for (auto& t : b.tensors)
          for (auto& x : t.data) x = normal(rng);
      s.save(ss / (std::string(names[c]) + "_B" + std::to_string(B) + ".safetensors"));
    }
  }
  std::printf("seeds written under %s\n", out.c_str());
  return 0;
}
