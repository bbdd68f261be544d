#include "server/prefix_cache.h"

#include <algorithm>

namespace xlstm::server {

std::vector<uint64_t> prefix_hashes(std::span<const int32_t> tokens) {
  std::vector<uint64_t> h(tokens.size() + 1);
  uint64_t x = 0xcbf29ce484222325ull;  // FNV-1a over the tokens' 4 bytes, then a final mix
  h[0] = x;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const auto t = static_cast<uint32_t>(tokens[i]);
    for (int k = 0; k < 4; ++k) x = (x ^ ((t >> (8 * k)) & 0xff)) * 0x100000001b3ull;
    uint64_t z = x + i;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    h[i + 1] = z ^ (z >> 31);
  }
  return h;
}

PrefixCache::Lru::iterator PrefixCache::find(std::span<const int32_t> prefix, uint64_t hash) {
  auto [lo, hi] = by_hash_.equal_range(hash);
  for (auto it = lo; it != hi; ++it) {
    const Entry& e = *it->second;
    if (e.tokens.size() == prefix.size() &&
        std::equal(prefix.begin(), prefix.end(), e.tokens.begin()))
      return it->second;
  }
  return lru_.end();
}

std::optional<PrefixCache::Hit> PrefixCache::lookup(std::span<const int32_t> tokens) {
  if (lru_.empty() || tokens.size() < 2) return std::nullopt;
  const auto h = prefix_hashes(tokens);
  // Longest first; only lengths some entry has are tried.
  for (auto it = lengths_.rbegin(); it != lengths_.rend(); ++it) {
    const int64_t len = it->first;
    if (len >= static_cast<int64_t>(tokens.size())) continue;
    auto e = find(tokens.first(static_cast<size_t>(len)), h[len] & mask_);
    if (e == lru_.end()) continue;
    lru_.splice(lru_.begin(), lru_, e);
    return Hit{len, &e->state};
  }
  return std::nullopt;
}

void PrefixCache::insert(std::span<const int32_t> tokens, int64_t length, const State& state,
                         int64_t row) {
  const size_t bytes = static_cast<size_t>(state.floats_per_sequence()) * sizeof(float);
  if (capacity_ == 0 || bytes > capacity_ || length <= 0) return;
  const auto prefix = tokens.first(static_cast<size_t>(length));
  const uint64_t hash = prefix_hashes(prefix)[length] & mask_;
  if (auto e = find(prefix, hash); e != lru_.end()) {
    lru_.splice(lru_.begin(), lru_, e);  // the same tokens give the same state
    return;
  }
  State reuse;
  while (bytes_ + bytes > capacity_) {
    State evicted = evict_one();
    if (reuse.batch() == 0 && evicted.layout() == state.layout()) reuse = std::move(evicted);
  }
  Entry entry;
  entry.tokens.assign(prefix.begin(), prefix.end());
  entry.hash = hash;
  if (reuse.batch() == 1) {
    entry.state = std::move(reuse);
  } else {
    entry.state = make_state_ ? make_state_() : State(state.layout(), 1);
  }
  entry.state.copy_sequence(0, state, row);
  entry.bytes = bytes;
  lru_.push_front(std::move(entry));
  by_hash_.emplace(hash, lru_.begin());
  ++lengths_[length];
  bytes_ += bytes;
}

State PrefixCache::evict_one() {
  auto last = std::prev(lru_.end());
  auto [lo, hi] = by_hash_.equal_range(last->hash);
  for (auto it = lo; it != hi; ++it) {
    if (it->second == last) {
      by_hash_.erase(it);
      break;
    }
  }
  const auto len = static_cast<int64_t>(last->tokens.size());
  if (--lengths_[len] == 0) lengths_.erase(len);
  bytes_ -= last->bytes;
  State state = std::move(last->state);
  lru_.pop_back();
  ++evictions_;
  return state;
}

}  // namespace xlstm::server
