// KvCache: the keys and values a causal model has computed for one sequence, so that each new
// token attends to everything before it without recomputing it.
//
// Layout: per layer, K and V as [n_head_kv][n_ctx][head_dim] float32 (keys already rotated),
// allocated once for the whole context when the cache is made; appending never allocates. Each
// head's positions are one contiguous run, read in order when a token attends to them (with
// positions outermost, a head's 256 bytes of every 768-byte row were read at a stride and the
// reads ran at a fifth of the memory's speed). F32 on purpose: llama.cpp's goldens use an F32
// cache, and for the small models ragkit runs the cache is a few MB per thousand tokens.
//
// Thread-safety: none; one cache belongs to one sequence being generated.
#pragma once

#include <cstdint>
#include <vector>

#include "ragkit/embed/architecture.h"

namespace ragkit::embed {

class KvCache {
 public:
  // Room for n_ctx tokens of a model with this configuration.
  KvCache(const ModelConfig& config, int64_t n_ctx);

  int64_t capacity() const { return n_ctx_; }
  // Tokens held; the next token goes to position size().
  int64_t size() const { return size_; }
  int64_t row_width() const { return width_; }
  // Bytes held by the cache.
  size_t bytes() const { return (k_.size() + v_.size()) * sizeof(float); }

  // Forgets everything (keeps the memory).
  void clear() { size_ = 0; }
  // Keeps the first n tokens (n <= size()): a prompt prefix shared by the next request.
  void truncate(int64_t n) { size_ = n < size_ ? (n < 0 ? 0 : n) : size_; }

  int64_t head_dim() const { return head_dim_; }

  // Position 0 of key/value head `head` in layer `layer`; position t is head_dim() floats further.
  float* keys(int64_t layer, int64_t head) { return k_.data() + offset(layer, head); }
  float* values(int64_t layer, int64_t head) { return v_.data() + offset(layer, head); }

 private:
  friend class Transformer;
  void advance(int64_t n) { size_ += n; }
  size_t offset(int64_t layer, int64_t head) const {
    return static_cast<size_t>((layer * (width_ / head_dim_) + head) * n_ctx_ * head_dim_);
  }

  int64_t n_ctx_ = 0;
  int64_t width_ = 0;
  int64_t head_dim_ = 1;
  int64_t size_ = 0;
  std::vector<float> k_, v_;
};

}  // namespace ragkit::embed
