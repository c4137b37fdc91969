// Generator: text generation with a causal model — the prompt is prefilled in batches into a KV
// cache, then tokens are sampled one at a time, each fed back, and the text is streamed as it
// forms.
//
// feed() is the low-level step (append tokens, get the next-token logits); generate() runs the
// whole loop with a Sampler, stop strings and a streaming callback that only ever sees complete,
// valid UTF-8.
//
// Memory: the KV cache, the logits and all sampling buffers are allocated when the generator is
// created; the decode loop allocates nothing per token.
// Thread-safety: one Generator serves one conversation at a time; share the Model and the
// ThreadPool between generators.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ragkit/common/status.h"
#include "ragkit/common/thread_pool.h"
#include "ragkit/embed/kv_cache.h"
#include "ragkit/embed/model.h"
#include "ragkit/embed/sampler.h"
#include "ragkit/embed/transformer.h"

namespace ragkit::embed {

struct GeneratorOptions {
  // Tokens of context: prompt plus generated text. 0 means the model's trained context length,
  // capped at 4096 to keep the cache small. Default: 0.
  int64_t n_ctx = 0;
  // Prompt tokens per forward batch while prefilling. Default: 512.
  int64_t n_batch = 512;
  // The KV cache's element type (kv_cache.h). Default: F16, as llama.cpp's; F32 keeps every bit.
  KvType cache_type = KvType::kF16;
};

enum class StopReason {
  kLength,           // max_tokens reached
  kEndOfGeneration,  // the model produced an end-of-generation token (EOS, <|im_end|>, ...)
  kStopString,       // a stop string appeared in the text
  kContextFull,      // the context window is full
  kCancelled,        // the callback asked to stop
};
const char* stop_reason_name(StopReason reason);  // "length", "eos", "stop", "context", "cancelled"

struct Generation {
  std::string text;             // the completion, without the stop string
  std::vector<TokenId> tokens;  // generated ids (an end-of-generation token included)
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  StopReason stop_reason = StopReason::kLength;
  double prefill_seconds = 0;
  double decode_seconds = 0;
};

// Receives each newly completed piece of text; return false to stop generating.
using TextCallback = std::function<bool(std::string_view piece)>;

class Generator {
 public:
  static Result<std::unique_ptr<Generator>> create(const Model& model, ThreadPool& pool,
                                                   const GeneratorOptions& options = {});

  // Appends tokens to the context and returns the logits [n_vocab] that predict the next one;
  // the span stays valid until the next call. An error leaves the context unchanged.
  Result<std::span<float>> feed(std::span<const TokenId> tokens);
  // Forgets the context.
  void reset() { cache_.clear(); }
  int64_t n_past() const { return cache_.size(); }
  int64_t n_ctx() const { return cache_.capacity(); }

  // Generates a continuation of `prompt` (token ids, BOS included when the model wants it),
  // starting from an empty context. `on_text` (may be empty) receives the text as it forms.
  Result<Generation> generate(std::span<const TokenId> prompt, const SamplingOptions& sampling,
                              const TextCallback& on_text = {});

  const Model& model() const { return model_; }

 private:
  Generator(const Model& model, ThreadPool& pool, const GeneratorOptions& options, int64_t n_ctx);

  const Model& model_;
  GeneratorOptions options_;
  Transformer transformer_;
  KvCache cache_;
  std::vector<float> logits_;
  std::vector<TokenId> history_;
};

}  // namespace ragkit::embed
