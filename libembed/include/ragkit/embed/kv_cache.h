// KvCache: the keys and values a causal model has computed for one sequence, so that each new
// token attends to everything before it without recomputing it.
//
// Layout: per layer, K and V as [n_head_kv][n_ctx][head_dim] (keys already rotated), allocated
// once for the whole context when the cache is made (in 2 MB pages where the kernel gives them,
// touched only as tokens are stored); appending never allocates. Each head's
// positions are one contiguous run, read in order when a token attends to them (with positions
// outermost, a head's 256 bytes of every 768-byte row were read at a stride and the reads ran at
// a fifth of the memory's speed).
//
// Element type: F16 (IEEE half, rounded to nearest even; llama.cpp's default) halves the bytes a
// decoded token reads from the cache, which at a few hundred tokens of context is a sizeable
// part of what decoding reads; F32 keeps every bit (llama.cpp's goldens were made with it).
//
// Pages: every decoded token reads all of its context's cache, a few hundred KB per layer, and in
// 4 KB pages that read paid a TLB miss and a hardware-prefetcher restart every 32 positions of a
// head. In 2 MB pages a decoded token's attention took 15% less time (SmolLM2-135M's shape, 576
// positions, F16, two threads: 1,181 -> ~1,000 M cycles in attend_slice over 384 tokens).
//
// Thread-safety: none; one cache belongs to one sequence being generated. Movable, not copyable.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "ragkit/common/huge_page_memory.h"
#include "ragkit/embed/architecture.h"

namespace ragkit::embed {

enum class KvType { kF32, kF16 };
const char* kv_type_name(KvType type);  // "f32", "f16"
// "f32" / "f16" (any case); nullopt for anything else.
std::optional<KvType> parse_kv_type(std::string_view name);

class KvCache {
 public:
  // Room for n_ctx tokens of a model with this configuration. Throws std::bad_alloc when the
  // memory cannot be had (as a std::vector would).
  KvCache(const ModelConfig& config, int64_t n_ctx, KvType type = KvType::kF32);

  KvType type() const { return type_; }
  int64_t capacity() const { return n_ctx_; }
  // Tokens held; the next token goes to position size().
  int64_t size() const { return size_; }
  int64_t row_width() const { return width_; }
  int64_t head_dim() const { return head_dim_; }
  // Bytes held by the cache.
  size_t bytes() const { return memory_.size(); }

  // Forgets everything (keeps the memory).
  void clear() { size_ = 0; }
  // Keeps the first n tokens (n <= size()): a prompt prefix shared by the next request.
  void truncate(int64_t n) { size_ = n < size_ ? (n < 0 ? 0 : n) : size_; }

  // Writes n tokens' keys and values, rows of row_width() floats (all heads of a token), at
  // positions size() .. size() + n - 1 of `layer`. Does not advance size().
  void store(int64_t layer, const float* keys, const float* values, int64_t n);

  // Position 0 of key/value head `head` in layer `layer`; position t is head_dim() elements
  // further. The float accessors are for F32 caches, the half ones for F16 caches.
  float* keys(int64_t layer, int64_t head) { return f32() + offset(layer, head); }
  float* values(int64_t layer, int64_t head) { return f32() + elements_ + offset(layer, head); }
  const uint16_t* keys_f16(int64_t layer, int64_t head) const {
    return f16() + offset(layer, head);
  }
  const uint16_t* values_f16(int64_t layer, int64_t head) const {
    return f16() + elements_ + offset(layer, head);
  }

 private:
  friend class Transformer;
  void advance(int64_t n) { size_ += n; }
  size_t offset(int64_t layer, int64_t head) const {
    return static_cast<size_t>((layer * (width_ / head_dim_) + head) * n_ctx_ * head_dim_);
  }

  KvType type_ = KvType::kF32;
  int64_t n_ctx_ = 0;
  int64_t width_ = 0;
  int64_t head_dim_ = 1;
  int64_t size_ = 0;
  // The elements of an F32 or an F16 cache: K, then V at elements_.
  float* f32() const { return reinterpret_cast<float*>(memory_.data()); }
  uint16_t* f16() const { return reinterpret_cast<uint16_t*>(memory_.data()); }

  HugePageMemory memory_;  // empty when n_ctx or width is 0
  size_t elements_ = 0;    // of K (and of V): n_layer * n_ctx * width
};

}  // namespace ragkit::embed
