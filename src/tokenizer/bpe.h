#pragma once
// The BPE merge algorithm over bytes. Symbols start as single bytes (each byte's byte-level
// token) and the lowest-ranked adjacent pair is merged first, leftmost on ties, exactly as HF's
// BPE::merge_word does (including its check that a queued merge is still current).
#include <array>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "spec.h"

namespace xlstm::tok {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using StringMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

// (left id, right id) -> (rank, merged id); open addressing, linear probing.
class PairMap {
 public:
  struct Merge {
    int32_t rank, id;
  };
  void reserve(size_t n);
  void insert_or_assign(int32_t a, int32_t b, Merge m);
  const Merge* find(int32_t a, int32_t b) const {
    const uint64_t key = pack(a, b);
    for (size_t i = slot(key);; i = (i + 1) & mask_) {
      if (keys_[i] == key) return &vals_[i];
      if (keys_[i] == kEmpty) return nullptr;
    }
  }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};
  static uint64_t pack(int32_t a, int32_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }
  size_t slot(uint64_t key) const {
    key *= 0x9E3779B97F4A7C15ull;
    return static_cast<size_t>(key >> 32) & mask_;
  }
  std::vector<uint64_t> keys_;
  std::vector<Merge> vals_;
  size_t mask_ = 0;
};

// Word -> ids memo for words up to kMaxWord bytes, bounded in entries: open addressing over
// one arena holding each word's bytes followed by its ids, so a hit touches one slot and one
// arena line. Not thread-safe: the caller serializes access.
class WordCache {
 public:
  static constexpr size_t kMaxWord = 256;
  static constexpr size_t kMaxEntries = 1 << 18;
  static constexpr size_t kMaxArenaBytes = size_t{64} << 20;
  // Appends the cached ids of `word` to `out` and returns true, or returns false.
  bool get(std::string_view word, std::vector<int32_t>& out) const;
  void put(std::string_view word, const int32_t* ids, size_t n);

 private:
  struct Slot {
    uint32_t hash = 0, offset = 0;  // offset of the entry in arena_
    uint16_t size = 0, count = 0;   // word bytes (0: empty slot), ids
  };
  static uint32_t hash(std::string_view word);
  void grow();

  std::vector<Slot> slots_;
  std::vector<char> arena_;
  size_t entries_ = 0;
};

class Bpe {
 public:
  // `vocab` maps each token's bytes to its id (byte-level strings already decoded).
  Bpe(const TokenizerSpec& spec, const StringMap& token_ids);

  // Appends the ids of one pre-tokenized word (raw bytes). `cache` may be null.
  void encode_word(std::string_view word, std::vector<int32_t>& out, WordCache* cache) const;

 private:
  void merge_word(std::string_view word, std::vector<int32_t>& out) const;

  std::array<int32_t, 256> byte_id_{};  // id of each single-byte token, -1 if absent
  PairMap merges_;
  StringMap bytes_to_id_;  // only with ignore_merges: whole words found in the vocab
  bool ignore_merges_ = false;
  int32_t unk_id_ = -1;
  bool fuse_unk_ = false;
};

}  // namespace xlstm::tok
