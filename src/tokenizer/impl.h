#pragma once
// Tokenizer::Impl: the loaded tables and the encode pipeline, shared by tokenizer.cpp and
// detokenizer.cpp.
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "added_tokens.h"
#include "bpe.h"
#include "pretokenizer.h"
#include "spec.h"
#include "xlstm/tokenizer.h"

namespace xlstm {

struct Tokenizer::Impl {
  explicit Impl(const tok::TokenizerSpec& spec);

  // HF order: added tokens on the raw text, NFC on what is between them, added tokens marked
  // `normalized` on that, pre-tokenization, BPE per word; then the template's special ids.
  void encode(std::string_view text, bool add_special_tokens, std::vector<int32_t>& out) const;
  // Appends the bytes id stands for (nothing for unknown ids, or skipped special tokens).
  void append_bytes(int32_t id, bool skip_special_tokens, std::string& out) const;

  static constexpr uint8_t kExists = 1, kSpecial = 2;

  std::string file;
  tok::StringMap vocab;             // model vocab: token string -> id
  tok::StringMap added_vocab;       // added token content -> id
  std::vector<std::string> tokens;  // id -> token string (added tokens take precedence)
  std::vector<std::string> bytes;   // id -> what the ByteLevel decoder makes of it
  std::vector<uint8_t> flags;       // id -> kExists | kSpecial
  std::unique_ptr<tok::Bpe> bpe;
  std::unique_ptr<tok::AddedTokenMatcher> raw_added, normalized_added;
  bool nfc = false;
  std::unique_ptr<tok::PreTokenizer> pre;
  std::vector<int32_t> prefix_ids, suffix_ids;

  // One thread at a time uses the word cache; a concurrent encode runs without it.
  mutable std::mutex cache_mutex;
  mutable tok::WordCache cache;
};

}  // namespace xlstm
