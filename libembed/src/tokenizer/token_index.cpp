#include "tokenizer/token_index.h"

#include <algorithm>
#include <cstring>

namespace ragkit::embed::detail {
namespace {

inline uint64_t mix(uint64_t a, uint64_t b) {
  const __uint128_t r = static_cast<__uint128_t>(a) * b;
  return static_cast<uint64_t>(r) ^ static_cast<uint64_t>(r >> 64);
}

// The first min(n, 8) bytes of p, little-endian, zero-padded; reads only p[0, n).
inline uint64_t load_partial(const char* p, size_t n) {
  if (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
  }
  if (n >= 4) {
    uint32_t lo, hi;
    std::memcpy(&lo, p, 4);
    std::memcpy(&hi, p + n - 4, 4);
    return uint64_t{lo} | (uint64_t{hi} << ((n - 4) * 8));
  }
  if (n == 0) return 0;
  return uint64_t{static_cast<unsigned char>(p[0])} |
         (uint64_t{static_cast<unsigned char>(p[n >> 1])} << ((n >> 1) * 8)) |
         (uint64_t{static_cast<unsigned char>(p[n - 1])} << ((n - 1) * 8));
}

}  // namespace

uint64_t hash_bytes(const char* data, size_t n) {
  uint64_t h = mix(n ^ 0x9E3779B97F4A7C15ull, 0xA0761D6478BD642Full);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) h = mix(h ^ load_partial(data + i, 8), 0xE7037ED1A0B428DBull);
  if (i < n) h = mix(h ^ load_partial(data + i, n - i), 0x8EBC6AF09C88C6E3ull);
  return h ^ (h >> 29);
}

void TokenIndex::build(const std::vector<std::pair<std::string_view, int32_t>>& entries,
                       bool last_wins) {
  size_t capacity = 16;
  while (capacity < entries.size() * 2) capacity *= 2;
  slots_.assign(capacity, Slot{});
  mask_ = capacity - 1;
  arena_.clear();
  n_keys_ = 0;
  max_key_bytes_ = 0;
  size_t bytes = 0;
  for (const auto& entry : entries) bytes += entry.first.size();
  arena_.reserve(bytes);
  for (const auto& [key, id] : entries) {
    const uint64_t hash = hash_bytes(key.data(), key.size());
    for (size_t i = hash & mask_;; i = (i + 1) & mask_) {
      Slot& slot = slots_[i];
      if (slot.id < 0) {
        slot =
            Slot{hash, static_cast<uint32_t>(arena_.size()), static_cast<uint32_t>(key.size()), id};
        arena_.append(key);
        max_key_bytes_ = std::max(max_key_bytes_, key.size());
        ++n_keys_;
        break;
      }
      if (slot.hash == hash && slot.length == key.size() &&
          std::memcmp(arena_.data() + slot.offset, key.data(), key.size()) == 0) {
        if (last_wins) slot.id = id;
        break;
      }
    }
  }
}

int32_t TokenIndex::find(std::string_view key) const {
  if (slots_.empty() || key.size() > max_key_bytes_) return -1;
  const uint64_t hash = hash_bytes(key.data(), key.size());
  for (size_t i = hash & mask_;; i = (i + 1) & mask_) {
    const Slot& slot = slots_[i];
    if (slot.id < 0) return -1;
    if (slot.hash == hash && slot.length == key.size() &&
        std::memcmp(arena_.data() + slot.offset, key.data(), key.size()) == 0) {
      return slot.id;
    }
  }
}

}  // namespace ragkit::embed::detail
