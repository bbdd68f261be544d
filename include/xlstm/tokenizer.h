#pragma once
// Byte-level BPE tokenizer loaded from a Hugging Face tokenizer.json (GPT-NeoX-20B, xLSTM-7B and
// other ByteLevel BPE files), with exact id parity with HF `tokenizers`.
//
// Supported: BPE model (vocab, "a b" and ["a","b"] merges, unk_token, fuse_unk, ignore_merges),
// added tokens (special or not; lstrip/rstrip/normalized/single_word), NFC normalizer (and
// Sequence of it), ByteLevel / Split / Sequence pre-tokenizers, ByteLevel decoder, ByteLevel /
// TemplateProcessing / Sequence post-processors. Anything else fails at load with an
// xlstm::InvalidInput naming the component: "[tokenizer] <file>: ...".
//
// Invalid UTF-8 in encode() input is replaced by U+FFFD per maximal invalid subpart (as Python's
// bytes.decode("utf-8", "replace") and Rust's String::from_utf8_lossy do); decode() output is
// always valid UTF-8 by the same rule.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace xlstm {

class Tokenizer {
 public:
  static Tokenizer from_file(const std::filesystem::path& path);
  // `name` only labels error messages.
  static Tokenizer from_json(std::string_view json, std::string_view name = "<memory>");

  // Thread-safe. add_special_tokens applies the post-processor template (e.g. a BOS token).
  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = true) const;
  // Unknown ids are skipped, as HF does. Tokens whose bytes do not form whole UTF-8 characters
  // decode to U+FFFD.
  std::string decode(std::span<const int32_t> ids, bool skip_special_tokens = false) const;

  // Largest id + 1 (model vocab and added tokens), the size an embedding table must cover.
  int32_t vocab_size() const;
  // Added tokens first, then the model vocab; `token` is the token's string as stored in the
  // file (byte-level form, e.g. "Ġthe").
  std::optional<int32_t> token_id(std::string_view token) const;
  std::optional<std::string> id_to_token(int32_t id) const;
  bool is_special(int32_t id) const;

 private:
  struct Impl;
  explicit Tokenizer(std::shared_ptr<const Impl> impl);
  std::shared_ptr<const Impl> impl_;  // immutable once loaded; copies share it
  friend class StreamingDetokenizer;
};

// Turns ids into text as they arrive. push() returns only complete UTF-8 characters; bytes of a
// character split across tokens are held until it completes (or is known to be invalid, which
// yields U+FFFD). The concatenation of all push() results and flush() equals
// Tokenizer::decode() of the same ids.
class StreamingDetokenizer {
 public:
  explicit StreamingDetokenizer(const Tokenizer& tokenizer, bool skip_special_tokens = false);
  std::string push(int32_t id);
  // Returns what is held back (as U+FFFD) and resets for a new stream.
  std::string flush();

 private:
  std::shared_ptr<const Tokenizer::Impl> impl_;
  bool skip_special_tokens_;
  std::string pending_;  // bytes of an incomplete trailing character, at most 3
};

}  // namespace xlstm
