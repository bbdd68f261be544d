#include <algorithm>
#include <fstream>
#include <sstream>

#include "byte_level.h"
#include "core/regular_file.h"
#include "impl.h"
#include "normalizer.h"
#include "utf8.h"
#include "xlstm/error.h"

namespace xlstm {

Tokenizer::Impl::Impl(const tok::TokenizerSpec& spec) : file(spec.file), nfc(spec.nfc) {
  int32_t max_id = -1;
  for (const auto& [token, id] : spec.model.vocab) {
    vocab.emplace(token, id);
    max_id = std::max(max_id, id);
  }
  // An added token already in the model vocab keeps the model's id (HF ignores the file's).
  std::vector<std::pair<const tok::AddedTokenSpec*, int32_t>> added;
  for (const auto& a : spec.added_tokens) {
    if (a.content.empty()) continue;
    const auto it = vocab.find(a.content);
    const int32_t id = it != vocab.end() ? it->second : a.id;
    if (const auto seen = added_vocab.find(a.content);
        seen != added_vocab.end() && seen->second != id) {
      tok::fail(file, "added_tokens: \"" + a.content + "\" has two ids, " +
                          std::to_string(seen->second) + " and " + std::to_string(id));
    }
    added.emplace_back(&a, id);
    added_vocab[a.content] = id;
    max_id = std::max(max_id, id);
  }

  const size_t n = static_cast<size_t>(max_id + 1);
  tokens.resize(n);
  flags.assign(n, 0);
  for (const auto& [token, id] : spec.model.vocab) {
    if (flags[id] & kExists) {
      tok::fail(file, "model.vocab: id " + std::to_string(id) + " is used by both \"" + tokens[id] +
                          "\" and \"" + token + "\"");
    }
    tokens[id] = token;
    flags[id] = kExists;
  }
  // An id names one token: one that two spellings claim would encode both and decode to one.
  for (const auto& [a, id] : added) {
    if ((flags[id] & kExists) && tokens[id] != a->content) {
      tok::fail(file, "added_tokens: id " + std::to_string(id) + " is used by both \"" +
                          tokens[id] + "\" and \"" + a->content + "\"");
    }
    tokens[id] = a->content;
    flags[id] = kExists;
  }
  for (const auto& [a, id] : added) {
    if (a->special) flags[id] |= kSpecial;
  }
  bytes.resize(n);
  for (size_t id = 0; id < n; ++id) {
    // The ByteLevel decoder maps a token char by char, or keeps it as is if any char is not
    // one of the 256 byte characters.
    if (!tok::byte_level_to_bytes(tokens[id], bytes[id])) bytes[id] = tokens[id];
  }

  bpe = std::make_unique<tok::Bpe>(spec, vocab);

  // Matching order: special tokens first, then the others, each in file order.
  std::vector<tok::AddedTokenMatcher::Token> raw, normalized;
  for (const bool special : {true, false}) {
    for (const auto& [a, id] : added) {
      if (a->special != special) continue;
      tok::AddedTokenMatcher::Token t{a->content, id, a->single_word, a->lstrip, a->rstrip};
      if (a->normalized) {
        if (nfc) {
          std::string composed;
          tok::nfc(t.pattern, composed);
          t.pattern = std::move(composed);
        }
        normalized.push_back(std::move(t));
      } else {
        raw.push_back(std::move(t));
      }
    }
  }
  raw_added = std::make_unique<tok::AddedTokenMatcher>(raw);
  normalized_added = std::make_unique<tok::AddedTokenMatcher>(normalized);

  pre = std::make_unique<tok::PreTokenizer>(spec);
  for (const auto& ids : {spec.prefix_ids, spec.suffix_ids}) {
    for (const int32_t id : ids) {
      if (id >= max_id + 1 || !(flags[id] & kExists)) {
        tok::fail(file, "post_processor: special token id " + std::to_string(id) +
                            " is not in the vocabulary");
      }
    }
  }
  prefix_ids = spec.prefix_ids;
  suffix_ids = spec.suffix_ids;
}

void Tokenizer::Impl::encode(std::string_view text, bool add_special_tokens,
                             std::vector<int32_t>& out) const {
  std::string repaired;
  if (!tok::is_valid_utf8(text)) {
    tok::append_lossy(repaired, text);
    text = repaired;
  }
  if (add_special_tokens) out.insert(out.end(), prefix_ids.begin(), prefix_ids.end());

  std::unique_lock lock(cache_mutex, std::try_to_lock);
  tok::WordCache* word_cache = lock.owns_lock() ? &cache : nullptr;
  const auto on_word = [&](std::string_view w) { bpe->encode_word(w, out, word_cache); };

  std::vector<tok::Piece> raw_pieces, pieces;
  if (raw_added->empty()) {
    raw_pieces.push_back({-1, 0, text.size()});
  } else {
    raw_added->split(text, raw_pieces);
  }
  std::string normalized;
  for (const tok::Piece& p : raw_pieces) {
    if (p.id >= 0) {
      out.push_back(p.id);
      continue;
    }
    std::string_view s = text.substr(p.begin, p.end - p.begin);
    if (s.empty()) continue;
    if (nfc && tok::may_need_nfc(s)) {
      tok::nfc(s, normalized);
      s = normalized;
    }
    if (normalized_added->empty()) {
      pre->run(s, on_word);
      continue;
    }
    pieces.clear();
    normalized_added->split(s, pieces);
    for (const tok::Piece& q : pieces) {
      if (q.id >= 0) {
        out.push_back(q.id);
      } else {
        pre->run(s.substr(q.begin, q.end - q.begin), on_word);
      }
    }
  }
  if (add_special_tokens) out.insert(out.end(), suffix_ids.begin(), suffix_ids.end());
}

void Tokenizer::Impl::append_bytes(int32_t id, bool skip_special_tokens, std::string& out) const {
  if (id < 0 || static_cast<size_t>(id) >= flags.size() || !(flags[id] & kExists)) return;
  if (skip_special_tokens && (flags[id] & kSpecial)) return;
  out.append(bytes[id]);
}

Tokenizer::Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}

Tokenizer Tokenizer::from_json(std::string_view json, std::string_view name) {
  const tok::TokenizerSpec spec = tok::parse_tokenizer_json(json, std::string(name));
  return Tokenizer(std::make_shared<const Impl>(spec));
}

Tokenizer Tokenizer::from_file(const std::filesystem::path& path) {
  require_regular_file(path, "tokenizer");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InvalidInput(tagged("tokenizer", path.string() + ": cannot open file"));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw InvalidInput(tagged("tokenizer", path.string() + ": read error"));
  return from_json(ss.str(), path.string());
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 4);
  impl_->encode(text, add_special_tokens, out);
  return out;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
  std::string raw;
  for (const int32_t id : ids) impl_->append_bytes(id, skip_special_tokens, raw);
  std::string out;
  out.reserve(raw.size());
  tok::append_lossy(out, raw);
  return out;
}

int32_t Tokenizer::vocab_size() const {
  return static_cast<int32_t>(impl_->flags.size());
}

std::optional<int32_t> Tokenizer::token_id(std::string_view token) const {
  if (const auto it = impl_->added_vocab.find(token); it != impl_->added_vocab.end()) {
    return it->second;
  }
  if (const auto it = impl_->vocab.find(token); it != impl_->vocab.end()) return it->second;
  return std::nullopt;
}

std::optional<std::string> Tokenizer::id_to_token(int32_t id) const {
  if (id < 0 || id >= vocab_size() || !(impl_->flags[id] & Impl::kExists)) return std::nullopt;
  return impl_->tokens[id];
}

bool Tokenizer::is_special(int32_t id) const {
  return id >= 0 && id < vocab_size() && (impl_->flags[id] & Impl::kSpecial);
}

}  // namespace xlstm
