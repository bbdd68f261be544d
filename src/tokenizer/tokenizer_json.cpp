// tokenizer.json -> TokenizerSpec. Every refusal names the field or component it is about.
#include <cctype>

#include <nlohmann/json.hpp>

#include "spec.h"
#include "xlstm/error.h"

namespace xlstm::tok {

using nlohmann::json;

void fail(const std::string& file, const std::string& what) {
  throw InvalidInput(tagged("tokenizer", file + ": " + what));
}

namespace {

class Reader {
 public:
  explicit Reader(const std::string& file) : file_(file) {}

  [[noreturn]] void fail(const std::string& what) const { tok::fail(file_, what); }

  const json& object(const json& parent, const char* key, const std::string& path) const {
    const auto it = parent.find(key);
    if (it == parent.end()) fail(path + ": missing \"" + key + "\"");
    if (!it->is_object()) fail(path + "." + key + ": expected an object");
    return *it;
  }
  const json& array(const json& parent, const char* key, const std::string& path) const {
    const auto it = parent.find(key);
    if (it == parent.end()) fail(path + ": missing \"" + key + "\"");
    if (!it->is_array()) fail(path + "." + key + ": expected an array");
    return *it;
  }
  std::string string(const json& parent, const char* key, const std::string& path) const {
    const auto it = parent.find(key);
    if (it == parent.end()) fail(path + ": missing \"" + key + "\"");
    if (!it->is_string()) fail(path + "." + key + ": expected a string");
    return it->get<std::string>();
  }
  // Absent or null gives `fallback`.
  bool flag(const json& parent, const char* key, bool fallback, const std::string& path) const {
    const auto it = parent.find(key);
    if (it == parent.end() || it->is_null()) return fallback;
    if (!it->is_boolean()) fail(path + "." + key + ": expected true or false");
    return it->get<bool>();
  }
  int32_t id(const json& v, const std::string& path) const {
    if (!v.is_number_integer()) fail(path + ": expected a token id (non-negative integer)");
    const auto x = v.get<int64_t>();
    if (x < 0 || x > kMaxTokenId) {
      fail(path + ": token id " + std::to_string(x) + " out of range [0, " +
           std::to_string(kMaxTokenId) + "]");
    }
    return static_cast<int32_t>(x);
  }
  std::string type(const json& component, const std::string& path) const {
    if (!component.is_object()) fail(path + ": expected an object");
    return string(component, "type", path);
  }

 private:
  const std::string& file_;
};

std::string escape_regex(std::string_view literal) {
  std::string out;
  for (const char c : literal) {
    const auto u = static_cast<unsigned char>(c);
    // In PCRE2 a backslash before any ASCII non-alphanumeric makes it literal.
    if (u < 0x80 && !std::isalnum(u)) out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

void read_model(const Reader& r, const json& root, BpeSpec& bpe) {
  const json& m = r.object(root, "model", "tokenizer");
  const auto t = m.find("type");
  if (t != m.end() && !(t->is_string() && *t == "BPE")) {
    r.fail("model type " + t->dump() + " is not supported (only BPE)");
  }
  if (t == m.end() && !m.contains("merges")) r.fail("model: missing \"type\"");
  if (const auto d = m.find("dropout"); d != m.end() && !d->is_null()) {
    if (!d->is_number()) r.fail("model.dropout: expected a number or null");
    if (d->get<double>() > 0.0) r.fail("model.dropout (BPE dropout) is not supported");
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    const auto it = m.find(key);
    if (it != m.end() && !it->is_null() && !(it->is_string() && it->get<std::string>().empty())) {
      r.fail(std::string("model.") + key + " is not supported");
    }
  }
  if (r.flag(m, "byte_fallback", false, "model")) r.fail("model.byte_fallback is not supported");
  bpe.fuse_unk = r.flag(m, "fuse_unk", false, "model");
  bpe.ignore_merges = r.flag(m, "ignore_merges", false, "model");
  if (const auto u = m.find("unk_token"); u != m.end() && !u->is_null()) {
    if (!u->is_string()) r.fail("model.unk_token: expected a string or null");
    bpe.unk_token = u->get<std::string>();
  }

  const json& vocab = r.object(m, "vocab", "model");
  bpe.vocab.reserve(vocab.size());
  for (const auto& [token, id] : vocab.items()) {
    bpe.vocab.emplace_back(token, r.id(id, "model.vocab[" + json(token).dump() + "]"));
  }

  const json& merges = r.array(m, "merges", "model");
  bpe.merges.reserve(merges.size());
  for (size_t i = 0; i < merges.size(); ++i) {
    const json& e = merges[i];
    const std::string path = "model.merges[" + std::to_string(i) + "]";
    if (e.is_string()) {
      const auto& s = e.get_ref<const std::string&>();
      const size_t sp = s.find(' ');
      if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos) {
        r.fail(path + ": expected \"a b\" (two tokens separated by one space), got " + e.dump());
      }
      bpe.merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
    } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {
      bpe.merges.emplace_back(e[0].get<std::string>(), e[1].get<std::string>());
    } else {
      r.fail(path + ": expected \"a b\" or [\"a\", \"b\"], got " + e.dump());
    }
  }
}

void read_added_tokens(const Reader& r, const json& root, std::vector<AddedTokenSpec>& out) {
  const auto it = root.find("added_tokens");
  if (it == root.end() || it->is_null()) return;
  if (!it->is_array()) r.fail("added_tokens: expected an array");
  for (size_t i = 0; i < it->size(); ++i) {
    const json& e = (*it)[i];
    const std::string path = "added_tokens[" + std::to_string(i) + "]";
    if (!e.is_object()) r.fail(path + ": expected an object");
    AddedTokenSpec a;
    a.content = r.string(e, "content", path);
    if (!e.contains("id")) r.fail(path + ": missing \"id\"");
    a.id = r.id(e["id"], path + ".id");
    a.special = r.flag(e, "special", false, path);
    a.single_word = r.flag(e, "single_word", false, path);
    a.lstrip = r.flag(e, "lstrip", false, path);
    a.rstrip = r.flag(e, "rstrip", false, path);
    a.normalized = r.flag(e, "normalized", !a.special, path);
    out.push_back(std::move(a));
  }
}

void read_normalizer(const Reader& r, const json& n, const std::string& path, bool& nfc) {
  if (n.is_null()) return;
  const std::string type = r.type(n, path);
  if (type == "NFC") {
    nfc = true;
  } else if (type == "Sequence") {
    const json& list = r.array(n, "normalizers", path);
    for (size_t i = 0; i < list.size(); ++i) {
      read_normalizer(r, list[i], path + ".normalizers[" + std::to_string(i) + "]", nfc);
    }
  } else {
    r.fail(path + ": type \"" + type + "\" is not supported (supported: NFC, Sequence)");
  }
}

SplitBehavior behavior_from(const Reader& r, const std::string& s, const std::string& path) {
  if (s == "Removed") return SplitBehavior::Removed;
  if (s == "Isolated") return SplitBehavior::Isolated;
  if (s == "MergedWithPrevious") return SplitBehavior::MergedWithPrevious;
  if (s == "MergedWithNext") return SplitBehavior::MergedWithNext;
  if (s == "Contiguous") return SplitBehavior::Contiguous;
  r.fail(path + ".behavior: unknown value \"" + s + "\"");
}

struct PreTokState {
  bool have_byte_level = false;
};

void read_pre_tokenizer(const Reader& r, const json& p, const std::string& path,
                        TokenizerSpec& spec, PreTokState& st) {
  const std::string type = r.type(p, path);
  if (type == "Sequence") {
    const json& list = r.array(p, "pretokenizers", path);
    for (size_t i = 0; i < list.size(); ++i) {
      read_pre_tokenizer(r, list[i], path + ".pretokenizers[" + std::to_string(i) + "]", spec, st);
    }
    return;
  }
  if (st.have_byte_level) {
    r.fail(path + ": a \"" + type +
           "\" step after ByteLevel is not supported (ByteLevel must be "
           "the last pre-tokenizer)");
  }
  if (type == "ByteLevel") {
    st.have_byte_level = true;
    spec.byte_level.add_prefix_space = r.flag(p, "add_prefix_space", true, path);
    spec.byte_level.use_regex = r.flag(p, "use_regex", true, path);
  } else if (type == "Split") {
    SplitSpec s;
    const json& pat = r.object(p, "pattern", path);
    if (pat.contains("String")) {
      s.regex = escape_regex(r.string(pat, "String", path + ".pattern"));
    } else if (pat.contains("Regex")) {
      s.regex = r.string(pat, "Regex", path + ".pattern");
    } else {
      r.fail(path + ".pattern: expected {\"String\": ...} or {\"Regex\": ...}");
    }
    s.behavior = behavior_from(r, r.string(p, "behavior", path), path);
    s.invert = r.flag(p, "invert", false, path);
    spec.splits.push_back(std::move(s));
  } else {
    r.fail(path + ": type \"" + type +
           "\" is not supported (supported: ByteLevel, Split, Sequence)");
  }
}

void read_template(const Reader& r, const json& p, const std::string& path, TokenizerSpec& spec) {
  const json& single = r.array(p, "single", path);
  const json* specials = nullptr;
  if (const auto it = p.find("special_tokens"); it != p.end() && !it->is_null()) {
    if (!it->is_object()) r.fail(path + ".special_tokens: expected an object");
    specials = &*it;
  }
  std::vector<int32_t> before, after;
  bool seen_a = false;
  for (size_t i = 0; i < single.size(); ++i) {
    const json& item = single[i];
    const std::string ipath = path + ".single[" + std::to_string(i) + "]";
    if (!item.is_object()) r.fail(ipath + ": expected an object");
    if (item.contains("Sequence")) {
      const json& seq = r.object(item, "Sequence", ipath);
      const std::string id = r.string(seq, "id", ipath + ".Sequence");
      if (id != "A") r.fail(ipath + ": sequence \"" + id + "\" in a single-sequence template");
      if (seen_a) r.fail(ipath + ": sequence A appears twice");
      seen_a = true;
    } else if (item.contains("SpecialToken")) {
      const json& st = r.object(item, "SpecialToken", ipath);
      const std::string name = r.string(st, "id", ipath + ".SpecialToken");
      if (specials == nullptr || !specials->contains(name)) {
        r.fail(ipath + ": special token \"" + name + "\" is not in " + path + ".special_tokens");
      }
      const std::string spath = path + ".special_tokens[" + json(name).dump() + "]";
      const json& entry = (*specials)[name];
      if (!entry.is_object()) r.fail(spath + ": expected an object");
      const json& ids = r.array(entry, "ids", spath);
      for (size_t k = 0; k < ids.size(); ++k) {
        (seen_a ? after : before)
            .push_back(r.id(ids[k], spath + ".ids[" + std::to_string(k) + "]"));
      }
    } else {
      r.fail(ipath + ": expected {\"Sequence\": ...} or {\"SpecialToken\": ...}");
    }
  }
  if (!seen_a) r.fail(path + ".single: has no sequence A");
  // Applied after earlier processors: wraps what they produced.
  spec.prefix_ids.insert(spec.prefix_ids.begin(), before.begin(), before.end());
  spec.suffix_ids.insert(spec.suffix_ids.end(), after.begin(), after.end());
}

void read_post_processor(const Reader& r, const json& p, const std::string& path,
                         TokenizerSpec& spec) {
  if (p.is_null()) return;
  const std::string type = r.type(p, path);
  if (type == "ByteLevel") return;  // only adjusts offsets
  if (type == "TemplateProcessing") {
    read_template(r, p, path, spec);
  } else if (type == "Sequence") {
    const json& list = r.array(p, "processors", path);
    for (size_t i = 0; i < list.size(); ++i) {
      read_post_processor(r, list[i], path + ".processors[" + std::to_string(i) + "]", spec);
    }
  } else {
    r.fail(path + ": type \"" + type +
           "\" is not supported (supported: ByteLevel, TemplateProcessing, Sequence)");
  }
}

}  // namespace

TokenizerSpec parse_tokenizer_json(std::string_view text, const std::string& file) {
  json root;
  try {
    root = json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    fail(file, std::string("malformed JSON: ") + e.what());
  }
  const Reader r(file);
  if (!root.is_object()) r.fail("expected a JSON object at the top level");

  TokenizerSpec spec;
  spec.file = file;
  for (const char* key : {"truncation", "padding"}) {
    if (const auto it = root.find(key); it != root.end() && !it->is_null()) {
      r.fail(std::string(key) + " is not supported (expected null)");
    }
  }
  read_model(r, root, spec.model);
  read_added_tokens(r, root, spec.added_tokens);
  if (const auto it = root.find("normalizer"); it != root.end()) {
    read_normalizer(r, *it, "normalizer", spec.nfc);
  }

  const auto pre = root.find("pre_tokenizer");
  if (pre == root.end() || pre->is_null()) {
    r.fail("pre_tokenizer: null is not supported (byte-level BPE needs a ByteLevel step)");
  }
  PreTokState st;
  read_pre_tokenizer(r, *pre, "pre_tokenizer", spec, st);
  if (!st.have_byte_level) {
    r.fail("pre_tokenizer: no ByteLevel step (only byte-level BPE is supported)");
  }

  if (const auto it = root.find("post_processor"); it != root.end()) {
    read_post_processor(r, *it, "post_processor", spec);
  }

  const auto dec = root.find("decoder");
  if (dec == root.end() || dec->is_null()) {
    r.fail("decoder: null is not supported (byte-level BPE needs a ByteLevel decoder)");
  }
  const std::string dtype = r.type(*dec, "decoder");
  if (dtype != "ByteLevel") {
    r.fail("decoder: type \"" + dtype + "\" is not supported (supported: ByteLevel)");
  }
  return spec;
}

}  // namespace xlstm::tok
