// WordCache: remembers the token ids of recently merged words, per thread, so that the common
// words of a text are merged once instead of every time (merging is most of tokenize()'s time).
//
// Each thread keeps two caches, each owned by the tokenizer that used it last (identified by a
// number no other tokenizer instance ever gets, so a new tokenizer at a freed one's address
// never sees stale entries): a thread that alternates between two tokenizers (an embedding
// model's and a generator's) keeps both warm; a third one takes over the least recently used
// cache, emptied. A cache holds short words only and is emptied whole (in O(1)) when full, so
// memory stays bounded: about 2 MB per cache in use.
//
// Thread-safety: every thread has its own caches; nothing is shared, nothing is locked.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ragkit/embed/tokenizer.h"

namespace ragkit::embed::detail {

class WordCache {
 public:
  // Words longer than this are not cached.
  static constexpr size_t kMaxWordBytes = 48;

  // A number for a new tokenizer instance, never handed out twice.
  static uint64_t new_owner();
  // The calling thread's cache for `owner` (emptied first when it was another's).
  static WordCache& for_thread(uint64_t owner);

  // Appends the ids stored for `word` to `out` and returns true, or returns false.
  bool find(std::string_view word, std::vector<TokenId>& out) const;
  // Stores the ids of `word` (no-op for long words).
  void insert(std::string_view word, const TokenId* ids, size_t n_ids);

 private:
  struct Slot {
    uint64_t hash = 0;
    uint64_t head = 0;  // the key's first min(length, 8) bytes, zero-padded
    uint32_t key_offset = 0;
    uint32_t key_length = 0;
    uint32_t ids_offset = 0;
    uint16_t n_ids = 0;
    uint16_t generation = 0;  // the slot is in use while this equals generation_
  };
  void clear();

  uint64_t owner_ = 0;
  uint64_t last_use_ = 0;
  uint16_t generation_ = 1;
  size_t n_used_ = 0;
  std::vector<Slot> slots_;  // allocated on first insert
  std::string keys_;
  std::vector<TokenId> ids_;
};

}  // namespace ragkit::embed::detail
