// TokenIndex: an immutable open-addressing hash table from byte strings (token texts, symbol
// texts) to ids, probed with string_views so that lookups on the tokenize path never allocate.
// Keys live back to back in one arena; a slot keeps the key's hash bits so most mismatches are
// settled without touching the arena.
//
// Thread-safety: immutable after build(); find() may be called concurrently.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ragkit::embed::detail {

class TokenIndex {
 public:
  // Later duplicates replace earlier ones when `last_wins`, else the first one stays.
  void build(const std::vector<std::pair<std::string_view, int32_t>>& entries, bool last_wins);
  // The id of `key`, or -1.
  int32_t find(std::string_view key) const;
  size_t size() const { return n_keys_; }
  // Length in bytes of the longest key.
  size_t max_key_bytes() const { return max_key_bytes_; }

 private:
  struct Slot {
    uint64_t hash = 0;
    uint32_t offset = 0;  // in arena_
    uint32_t length = 0;
    int32_t id = -1;  // -1: empty
  };
  std::string arena_;
  std::vector<Slot> slots_;  // power-of-two size, at most half full
  size_t mask_ = 0;
  size_t n_keys_ = 0;
  size_t max_key_bytes_ = 0;
};

// A 64-bit hash of a short byte string, reading it eight bytes at a time.
uint64_t hash_bytes(const char* data, size_t n);

}  // namespace ragkit::embed::detail
