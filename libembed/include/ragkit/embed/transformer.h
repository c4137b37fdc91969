// Transformer: the one transformer core. It executes any row of the architecture table
// (architecture.h) — BERT's post-norm bidirectional encoder and llama's pre-norm causal decoder
// are the same code with different blocks switched on.
//
// Input is a packed batch: the tokens of several sequences laid end to end, each token with its
// position, and the span of every sequence. Attention never crosses a sequence boundary, so the
// batch needs no padding. Output is the final hidden state of every token (after the output norm
// when the architecture has one), [n_tokens][n_embd], row-major.
//
// Causal models also run incrementally: forward_cached() appends tokens to one sequence held in a
// KvCache, each new token attending to the cached keys and values of everything before it.
//
// Memory: the workspace grows to the largest batch seen (reserve() sizes it up front); after that
// forward() allocates nothing. One Transformer serves one caller at a time; create one per thread
// of requests, sharing the Model and the ThreadPool.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "ragkit/common/status.h"
#include "ragkit/common/thread_pool.h"
#include "ragkit/embed/kv_cache.h"
#include "ragkit/embed/model.h"
#include "ragkit/embed/tokenizer.h"

namespace ragkit::embed {

struct SequenceSpan {
  int64_t begin = 0;   // first row in the packed batch
  int64_t length = 0;  // rows
};

class Transformer {
 public:
  Transformer(const Model& model, ThreadPool& pool);
  ~Transformer();
  Transformer(const Transformer&) = delete;
  Transformer& operator=(const Transformer&) = delete;

  // Sizes the workspace for batches of up to max_tokens tokens whose longest sequence has
  // max_sequence tokens.
  void reserve(int64_t max_tokens, int64_t max_sequence);

  // Runs the model over a packed batch. positions[i] is token i's position in its sequence.
  // Returns the hidden states; the span stays valid until the next call.
  Result<std::span<const float>> forward(std::span<const TokenId> tokens,
                                         std::span<const int32_t> positions,
                                         std::span<const SequenceSpan> sequences);

  // Runs a causal model over `tokens`, which continue the sequence held in `cache` (their
  // positions are cache.size(), cache.size() + 1, ...), and appends their keys and values to the
  // cache. Returns the final hidden states of the new tokens ([n][n_embd], after the output norm);
  // the span stays valid until the next call. Tokens that do not fit in the cache are an
  // out_of_range error and leave the cache as it was. Long inputs are processed in batches of
  // max_batch tokens (prefill); max_batch bounds the workspace.
  Result<std::span<const float>> forward_cached(std::span<const TokenId> tokens, KvCache& cache,
                                                int64_t max_batch = 512);

  // The LM head: logits[n_vocab] of one final hidden state.
  Status logits(const float* hidden, float* logits);

  const Model& model() const { return model_; }

 private:
  struct Workspace;
  Status embed_inputs(std::span<const TokenId> tokens, std::span<const int32_t> positions);
  // cache == nullptr: attention within each of `sequences`. Otherwise the batch is one sequence
  // continuing the cache's, and `layer` indexes the cache.
  Status run_layer(const LayerWeights& weights, std::span<const SequenceSpan> sequences,
                   std::span<const int32_t> positions, KvCache* cache, int64_t layer);
  void attention(std::span<const SequenceSpan> sequences);
  void attention_cached(KvCache& cache, int64_t layer, int64_t n);
  void apply_rotary(float* rows, int64_t n_heads, std::span<const int32_t> positions);
  void norm_rows(float* x, int64_t n, const NormWeights& w);
  void activate(float* x, int64_t n);

  const Model& model_;
  ThreadPool& pool_;
  std::unique_ptr<Workspace> ws_;
};

}  // namespace ragkit::embed
