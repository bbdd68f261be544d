#pragma once
// Recurrent states of token prefixes, bounded in bytes, least recently used out first.
//
// An entry is the batch-1 state after exactly its tokens. A lookup returns the longest cached
// prefix of a prompt that is strictly shorter than it (the prompt's last token still runs, for
// its logits). Keys are the full token vectors: a hash only narrows the search, and a candidate is
// returned only when its tokens equal the prompt's first tokens, so an entry is never returned
// for another prefix, whatever collides or was evicted.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "xlstm/state.h"

namespace xlstm::server {

// Hashes of every prefix of a token sequence: h[i] covers tokens [0, i).
std::vector<uint64_t> prefix_hashes(std::span<const int32_t> tokens);

class PrefixCache {
 public:
  // capacity_bytes 0: the cache is off (insert keeps nothing, lookup finds nothing). hash_mask
  // narrows the hashes (tests: 0 makes every prefix collide). make_state gives an entry's
  // batch-1 state (a server passes Model::new_state, so that on a GPU the entries stay in device
  // memory and storing or resuming one is a copy on the device); none: host states.
  explicit PrefixCache(size_t capacity_bytes, uint64_t hash_mask = ~uint64_t{0},
                       std::function<State()> make_state = {})
      : capacity_(capacity_bytes), mask_(hash_mask), make_state_(std::move(make_state)) {}

  struct Hit {
    int64_t length = 0;            // tokens the state covers
    const State* state = nullptr;  // batch 1; valid until the next insert
  };
  // The longest cached prefix of tokens shorter than tokens.size(), if any.
  std::optional<Hit> lookup(std::span<const int32_t> tokens);
  // Caches sequence row of state, the state after tokens [0, length) of tokens. An existing entry
  // for the same prefix is refreshed (its recency), not duplicated. Evicts until within capacity
  // (an evicted entry's state is reused for the new one: no allocation); a state larger than the
  // whole capacity is not kept.
  void insert(std::span<const int32_t> tokens, int64_t length, const State& state, int64_t row = 0);

  size_t bytes() const { return bytes_; }
  size_t entries() const { return lru_.size(); }
  int64_t evictions() const { return evictions_; }

 private:
  struct Entry {
    std::vector<int32_t> tokens;
    uint64_t hash = 0;
    State state;
    size_t bytes = 0;
  };
  using Lru = std::list<Entry>;  // front: most recently used
  Lru::iterator find(std::span<const int32_t> prefix, uint64_t hash);
  State evict_one();  // returns the evicted entry's state

  size_t capacity_;
  uint64_t mask_;
  std::function<State()> make_state_;
  size_t bytes_ = 0;
  int64_t evictions_ = 0;
  Lru lru_;
  std::unordered_multimap<uint64_t, Lru::iterator> by_hash_;
  std::map<int64_t, int64_t> lengths_;  // prefix length -> entries of that length
};

}  // namespace xlstm::server
