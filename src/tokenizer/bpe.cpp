#include "bpe.h"

#include <algorithm>
#include <cstring>

#include "byte_level.h"

namespace xlstm::tok {

void PairMap::reserve(size_t n) {
  size_t cap = 16;
  while (cap < 2 * n) cap <<= 1;
  keys_.assign(cap, kEmpty);
  vals_.assign(cap, {});
  mask_ = cap - 1;
}

void PairMap::insert_or_assign(int32_t a, int32_t b, Merge m) {
  const uint64_t key = pack(a, b);
  size_t i = slot(key);
  while (keys_[i] != kEmpty && keys_[i] != key) i = (i + 1) & mask_;
  keys_[i] = key;
  vals_[i] = m;
}

uint32_t WordCache::hash(std::string_view word) {
  // 8 bytes at a time, multiply-xorshift mixing (splitmix64 constants).
  uint64_t h = 0x9E3779B97F4A7C15ull ^ word.size();
  size_t i = 0;
  for (; i + 8 <= word.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, word.data() + i, 8);
    h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
    h ^= h >> 31;
  }
  if (i < word.size()) {
    uint64_t w = 0;
    std::memcpy(&w, word.data() + i, word.size() - i);
    h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
    h ^= h >> 31;
  }
  h *= 0x94D049BB133111EBull;
  return static_cast<uint32_t>(h >> 32);
}

bool WordCache::get(std::string_view word, std::vector<int32_t>& out) const {
  if (slots_.empty() || word.size() > kMaxWord) return false;
  const uint32_t h = hash(word);
  const size_t mask = slots_.size() - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    const Slot& s = slots_[i];
    if (s.size == 0) return false;
    if (s.hash != h || s.size != word.size()) continue;
    const char* entry = arena_.data() + s.offset;
    if (std::memcmp(entry, word.data(), word.size()) != 0) continue;
    const size_t at = out.size();
    out.resize(at + s.count);
    std::memcpy(out.data() + at, entry + s.size, s.count * sizeof(int32_t));
    return true;
  }
}

void WordCache::grow() {
  std::vector<Slot> old;
  old.swap(slots_);
  slots_.resize(old.empty() ? 4096 : old.size() * 2);
  const size_t mask = slots_.size() - 1;
  for (const Slot& s : old) {
    if (s.size == 0) continue;
    size_t i = s.hash & mask;
    while (slots_[i].size != 0) i = (i + 1) & mask;
    slots_[i] = s;
  }
}

void WordCache::put(std::string_view word, const int32_t* ids, size_t n) {
  if (word.empty() || word.size() > kMaxWord || entries_ >= kMaxEntries ||
      arena_.size() >= kMaxArenaBytes) {
    return;
  }
  if (2 * (entries_ + 1) > slots_.size()) grow();
  const uint32_t h = hash(word);
  const size_t mask = slots_.size() - 1;
  size_t i = h & mask;
  while (slots_[i].size != 0) i = (i + 1) & mask;
  Slot& s = slots_[i];
  s.hash = h;
  s.offset = static_cast<uint32_t>(arena_.size());
  s.size = static_cast<uint16_t>(word.size());
  s.count = static_cast<uint16_t>(n);
  arena_.insert(arena_.end(), word.begin(), word.end());
  const auto* p = reinterpret_cast<const char*>(ids);
  arena_.insert(arena_.end(), p, p + n * sizeof(int32_t));
  ++entries_;
}

Bpe::Bpe(const TokenizerSpec& spec, const StringMap& token_ids)
    : ignore_merges_(spec.model.ignore_merges), fuse_unk_(spec.model.fuse_unk) {
  const auto lookup = [&](const std::string& s) {
    const auto it = token_ids.find(s);
    return it == token_ids.end() ? -1 : it->second;
  };
  for (int b = 0; b < 256; ++b) {
    std::string s;
    s.push_back(static_cast<char>(b));
    byte_id_[b] = lookup(bytes_to_byte_level(s));
  }

  const auto& merges = spec.model.merges;
  merges_.reserve(merges.size());
  for (size_t i = 0; i < merges.size(); ++i) {
    const auto& [a, b] = merges[i];
    const std::string where = "model.merges[" + std::to_string(i) + "]: token \"";
    const int32_t ia = lookup(a), ib = lookup(b), ic = lookup(a + b);
    if (ia < 0) fail(spec.file, where + a + "\" is not in model.vocab");
    if (ib < 0) fail(spec.file, where + b + "\" is not in model.vocab");
    if (ic < 0) fail(spec.file, where + a + b + "\" (the merged pair) is not in model.vocab");
    // A repeated pair keeps its last rank, as HF's map does.
    merges_.insert_or_assign(ia, ib, {static_cast<int32_t>(i), ic});
  }

  if (ignore_merges_) {
    std::string bytes;
    for (const auto& [token, id] : token_ids) {
      bytes.clear();
      if (byte_level_to_bytes(token, bytes)) bytes_to_id_.emplace(bytes, id);
    }
  }
  if (spec.model.unk_token) {
    unk_id_ = lookup(*spec.model.unk_token);
    if (unk_id_ < 0) {
      fail(spec.file, "model.unk_token \"" + *spec.model.unk_token + "\" is not in model.vocab");
    }
  }
}

void Bpe::encode_word(std::string_view word, std::vector<int32_t>& out, WordCache* cache) const {
  if (word.size() == 1 && byte_id_[static_cast<unsigned char>(word[0])] >= 0) {
    out.push_back(byte_id_[static_cast<unsigned char>(word[0])]);
    return;
  }
  if (ignore_merges_) {
    const auto it = bytes_to_id_.find(word);
    if (it != bytes_to_id_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  if (cache != nullptr && cache->get(word, out)) return;
  const size_t start = out.size();
  merge_word(word, out);
  if (cache != nullptr) cache->put(word, out.data() + start, out.size() - start);
}

namespace {

struct Symbol {
  int32_t id;
  int32_t prev, next;  // neighbours in the current segmentation, -1 at the ends
  int32_t len;         // bytes covered; 0 once merged into its left neighbour
};

struct Queued {
  int32_t rank, pos, id;
  // std heap functions build a max-heap: "less" means later (higher rank, then further right).
  bool operator<(const Queued& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
};

}  // namespace

void Bpe::merge_word(std::string_view word, std::vector<int32_t>& out) const {
  thread_local std::vector<Symbol> sym;
  thread_local std::vector<Queued> queue;
  sym.clear();
  queue.clear();

  const auto add = [&](int32_t id, int32_t len) {
    const auto n = static_cast<int32_t>(sym.size());
    if (n > 0) sym.back().next = n;
    sym.push_back({id, n - 1, -1, len});
  };
  // Bytes without a token become unk_token (consecutive ones fused if fuse_unk), or vanish.
  int32_t unk_len = 0;
  for (const char c : word) {
    const int32_t id = byte_id_[static_cast<unsigned char>(c)];
    if (id >= 0) {
      if (unk_len > 0) add(unk_id_, unk_len);
      unk_len = 0;
      add(id, 1);
    } else if (unk_id_ >= 0) {
      if (unk_len > 0 && !fuse_unk_) {
        add(unk_id_, unk_len);
        unk_len = 0;
      }
      unk_len += 1;
    }
  }
  if (unk_len > 0) add(unk_id_, unk_len);

  for (size_t i = 0; i + 1 < sym.size(); ++i) {
    if (const auto* m = merges_.find(sym[i].id, sym[i + 1].id)) {
      queue.push_back({m->rank, static_cast<int32_t>(i), m->id});
    }
  }
  std::make_heap(queue.begin(), queue.end());

  while (!queue.empty()) {
    std::pop_heap(queue.begin(), queue.end());
    const Queued top = queue.back();
    queue.pop_back();
    Symbol& cur = sym[top.pos];
    if (cur.len == 0 || cur.next < 0) continue;
    Symbol& right = sym[cur.next];
    // Skip entries made stale by an earlier merge.
    const auto* m = merges_.find(cur.id, right.id);
    if (m == nullptr || m->id != top.id) continue;

    cur.id = top.id;
    cur.len += right.len;
    right.len = 0;
    cur.next = right.next;
    if (cur.next >= 0) sym[cur.next].prev = top.pos;

    if (cur.prev >= 0) {
      if (const auto* p = merges_.find(sym[cur.prev].id, cur.id)) {
        queue.push_back({p->rank, cur.prev, p->id});
        std::push_heap(queue.begin(), queue.end());
      }
    }
    if (cur.next >= 0) {
      if (const auto* n = merges_.find(cur.id, sym[cur.next].id)) {
        queue.push_back({n->rank, top.pos, n->id});
        std::push_heap(queue.begin(), queue.end());
      }
    }
  }
  for (int32_t i = sym.empty() ? -1 : 0; i >= 0; i = sym[i].next) out.push_back(sym[i].id);
}

}  // namespace xlstm::tok
