#include "ragkit/embed/generator.h"

#include <algorithm>
#include <chrono>

#include "ragkit/embed/stop_matcher.h"
#include "ragkit/embed/token_text_stream.h"

namespace ragkit::embed {

const char* stop_reason_name(StopReason reason) {
  switch (reason) {
    case StopReason::kLength: return "length";
    case StopReason::kEndOfGeneration: return "eos";
    case StopReason::kStopString: return "stop";
    case StopReason::kContextFull: return "context";
    case StopReason::kCancelled: return "cancelled";
  }
  return "?";
}

Result<std::unique_ptr<Generator>> Generator::create(const Model& model, ThreadPool& pool,
                                                     const GeneratorOptions& options) {
  if (model.arch().mask != AttentionMask::kCausal) {
    return Status::invalid_argument(model.path() + " is a " + std::string(model.arch().name) +
                                    " encoder, not a text generator");
  }
  if (options.n_ctx < 0 || options.n_batch <= 0) {
    return Status::invalid_argument("generator: n_ctx must be >= 0 and n_batch > 0");
  }
  int64_t n_ctx = options.n_ctx;
  if (n_ctx == 0) n_ctx = std::min<int64_t>(model.config().n_ctx_train, 4096);
  // Learned position tables end at the trained context; rotary models could go further, but
  // quality falls off past what they were trained on, so the same limit holds.
  if (n_ctx > model.config().n_ctx_train) {
    return Status::invalid_argument("context of " + std::to_string(n_ctx) +
                                    " tokens is longer than the model's " +
                                    std::to_string(model.config().n_ctx_train));
  }
  return std::unique_ptr<Generator>(new Generator(model, pool, options, n_ctx));
}

Generator::Generator(const Model& model, ThreadPool& pool, const GeneratorOptions& options,
                     int64_t n_ctx)
    : model_(model),
      options_(options),
      transformer_(model, pool),
      cache_(model.config(), n_ctx, options.cache_type),
      logits_(static_cast<size_t>(model.config().n_vocab)) {
  history_.reserve(static_cast<size_t>(n_ctx));
}

Result<std::span<float>> Generator::feed(std::span<const TokenId> tokens) {
  if (tokens.empty()) return Status::invalid_argument("generator: nothing to feed");
  RAGKIT_ASSIGN_OR_RETURN(std::span<const float> hidden,
                          transformer_.forward_cached(tokens, cache_, options_.n_batch));
  const int64_t d = model_.config().n_embd;
  const int64_t last = static_cast<int64_t>(hidden.size()) / d - 1;
  RAGKIT_RETURN_IF_ERROR(transformer_.logits(hidden.data() + last * d, logits_.data()));
  return std::span<float>(logits_);
}

Result<Generation> Generator::generate(std::span<const TokenId> prompt,
                                       const SamplingOptions& sampling,
                                       const TextCallback& on_text) {
  RAGKIT_ASSIGN_OR_RETURN(Sampler sampler, Sampler::create(sampling, logits_.size()));
  if (prompt.empty()) {
    return Status::invalid_argument("the prompt has no tokens (a model without a BOS token needs text)");
  }
  if (static_cast<int64_t>(prompt.size()) >= cache_.capacity()) {
    return Status::out_of_range("the prompt has " + std::to_string(prompt.size()) +
                                " tokens; the context holds " + std::to_string(cache_.capacity()) +
                                " with room for the answer");
  }
  const Tokenizer& tok = model_.tokenizer();
  Generation g;
  g.prompt_tokens = static_cast<int64_t>(prompt.size());
  reset();
  history_.assign(prompt.begin(), prompt.end());

  using Clock = std::chrono::steady_clock;
  auto t0 = Clock::now();
  RAGKIT_ASSIGN_OR_RETURN(std::span<float> logits, feed(prompt));
  auto t1 = Clock::now();
  g.prefill_seconds = std::chrono::duration<double>(t1 - t0).count();

  TokenTextStream stream(tok);
  StopMatcher stop(sampling.stop_strings);
  auto emit = [&](std::string_view text) {
    if (text.empty()) return true;
    g.text.append(text);
    return !on_text || on_text(text);
  };
  const int64_t limit = sampling.max_tokens > 0 ? sampling.max_tokens : INT64_MAX;
  g.stop_reason = StopReason::kLength;
  bool open = true;  // the stream still takes text
  while (g.completion_tokens < limit) {
    const TokenId next = sampler.sample(logits, history_);
    g.tokens.push_back(next);
    history_.push_back(next);
    ++g.completion_tokens;
    if (tok.is_end_of_generation(next)) {
      g.stop_reason = StopReason::kEndOfGeneration;
      break;
    }
    const StopMatcher::Output out = stop.feed(stream.push(next));
    if (!emit(out.text)) {
      g.stop_reason = StopReason::kCancelled;
      open = false;
      break;
    }
    if (out.stopped) {
      g.stop_reason = StopReason::kStopString;
      open = false;
      break;
    }
    if (g.completion_tokens >= limit) break;
    if (cache_.size() >= cache_.capacity()) {
      g.stop_reason = StopReason::kContextFull;
      break;
    }
    RAGKIT_ASSIGN_OR_RETURN(logits, feed(std::span(&next, 1)));
  }
  if (open) {
    // Whatever the UTF-8 decoder and the stop matcher still hold is part of the answer.
    const StopMatcher::Output out = stop.feed(stream.finish());
    if (out.stopped) g.stop_reason = StopReason::kStopString;
    if (emit(out.text) && !out.stopped) emit(stop.finish());
  }
  g.decode_seconds = std::chrono::duration<double>(Clock::now() - t1).count();
  return g;
}

}  // namespace ragkit::embed
