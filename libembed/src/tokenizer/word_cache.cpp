#include "tokenizer/word_cache.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>

#include "tokenizer/token_index.h"

namespace ragkit::embed::detail {
namespace {

constexpr size_t kSlots = 1 << 16;       // a power of two
constexpr size_t kMaxEntries = 1 << 15;  // at most half full: short probe runs

inline uint64_t head_of(std::string_view key) {
  uint64_t head = 0;
  std::memcpy(&head, key.data(), std::min<size_t>(key.size(), 8));
  return head;
}

}  // namespace

uint64_t WordCache::new_owner() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

WordCache& WordCache::for_thread(uint64_t owner) {
  thread_local std::array<WordCache, 2> caches;
  thread_local uint64_t clock = 0;
  WordCache* pick = &caches[0];
  for (WordCache& cache : caches) {
    if (cache.owner_ == owner) {
      pick = &cache;
      break;
    }
    if (cache.last_use_ < pick->last_use_) pick = &cache;
  }
  if (pick->owner_ != owner) {
    pick->clear();
    pick->owner_ = owner;
  }
  pick->last_use_ = ++clock;
  return *pick;
}

void WordCache::clear() {
  n_used_ = 0;
  keys_.clear();
  ids_.clear();
  if (++generation_ == 0) {  // wrapped: forget every slot for real
    std::fill(slots_.begin(), slots_.end(), Slot{});
    generation_ = 1;
  }
}

bool WordCache::find(std::string_view word, std::vector<TokenId>& out) const {
  if (n_used_ == 0 || word.size() > kMaxWordBytes) return false;
  const uint64_t hash = hash_bytes(word.data(), word.size());
  const uint64_t head = head_of(word);
  for (size_t i = hash & (kSlots - 1);; i = (i + 1) & (kSlots - 1)) {
    const Slot& s = slots_[i];
    if (s.generation != generation_) return false;
    if (s.hash == hash && s.head == head && s.key_length == word.size() &&
        (word.size() <= 8 ||
         std::memcmp(keys_.data() + s.key_offset + 8, word.data() + 8, word.size() - 8) == 0)) {
      out.insert(out.end(), ids_.begin() + s.ids_offset, ids_.begin() + s.ids_offset + s.n_ids);
      return true;
    }
  }
}

void WordCache::insert(std::string_view word, const TokenId* ids, size_t n_ids) {
  if (word.empty() || word.size() > kMaxWordBytes || n_ids > kMaxWordBytes) return;
  if (slots_.empty()) slots_.resize(kSlots);
  if (n_used_ >= kMaxEntries) clear();  // full: start over rather than track recency
  const uint64_t hash = hash_bytes(word.data(), word.size());
  const uint64_t head = head_of(word);
  for (size_t i = hash & (kSlots - 1);; i = (i + 1) & (kSlots - 1)) {
    Slot& s = slots_[i];
    if (s.generation == generation_) {
      if (s.hash == hash && s.head == head && s.key_length == word.size() &&
          std::memcmp(keys_.data() + s.key_offset, word.data(), word.size()) == 0) {
        return;  // already there
      }
      continue;
    }
    s = Slot{hash,
             head,
             static_cast<uint32_t>(keys_.size()),
             static_cast<uint32_t>(word.size()),
             static_cast<uint32_t>(ids_.size()),
             static_cast<uint16_t>(n_ids),
             generation_};
    keys_.append(word);
    ids_.insert(ids_.end(), ids, ids + n_ids);
    ++n_used_;
    return;
  }
}

}  // namespace ragkit::embed::detail
