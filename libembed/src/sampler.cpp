#include "ragkit/embed/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

namespace ragkit::embed {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

std::string number(double v) {
  std::string s = std::to_string(v);
  // to_string prints 6 decimals; drop the trailing zeros so messages read "0.5", not "0.500000".
  if (s.find('.') != std::string::npos) {
    while (!s.empty() && s.back() == '0') s.pop_back();
    if (!s.empty() && s.back() == '.') s.pop_back();
  }
  return s;
}

Status out_of_range_option(const char* name, const char* range, double got) {
  return Status::invalid_argument(std::string("sampling option ") + name + " must be " + range +
                                  " (got " + number(got) + ")");
}

}  // namespace

Status validate_sampling_options(const SamplingOptions& o) {
  // Written as !(in range) so that NaN is rejected too.
  if (!(o.temperature >= 0)) return out_of_range_option("temperature", ">= 0", o.temperature);
  if (o.top_k < 0) return out_of_range_option("top_k", ">= 0 (0 = off)", o.top_k);
  if (!(o.top_p >= 0 && o.top_p <= 1)) {
    return out_of_range_option("top_p", "in [0, 1] (1 = off)", o.top_p);
  }
  if (!(o.min_p >= 0 && o.min_p <= 1)) {
    return out_of_range_option("min_p", "in [0, 1] (0 = off)", o.min_p);
  }
  if (!(o.repeat_penalty > 0 && std::isfinite(o.repeat_penalty))) {
    return out_of_range_option("repeat_penalty", "> 0 (1 = off)", o.repeat_penalty);
  }
  if (o.repeat_last_n < -1) {
    return out_of_range_option("repeat_last_n", ">= -1 (-1 = whole history, 0 = off)",
                               o.repeat_last_n);
  }
  if (o.max_tokens < 0)
    return out_of_range_option("max_tokens", ">= 0 (0 = no limit)", o.max_tokens);
  for (size_t i = 0; i < o.stop_strings.size(); ++i) {
    if (o.stop_strings[i].empty()) {
      return Status::invalid_argument("sampling option stop_strings[" + std::to_string(i) +
                                      "] is empty; a stop string needs at least one character");
    }
  }
  return Status::ok_status();
}

Result<Sampler> Sampler::create(const SamplingOptions& options, size_t vocab_size) {
  RAGKIT_RETURN_IF_ERROR(validate_sampling_options(options));
  if (vocab_size == 0) return Status::invalid_argument("sampler: vocab_size must be > 0");
  if (vocab_size > static_cast<size_t>(std::numeric_limits<TokenId>::max())) {
    return Status::invalid_argument("sampler: vocab_size " + std::to_string(vocab_size) +
                                    " does not fit a token id");
  }
  const uint32_t seed = options.seed.has_value() ? *options.seed : std::random_device{}();
  return Sampler(options, vocab_size, seed);
}

Sampler::Sampler(const SamplingOptions& options, size_t vocab_size, uint32_t seed)
    : options_(options),
      vocab_size_(vocab_size),
      seed_(seed),
      rng_(seed),
      ids_(vocab_size),
      weights_(vocab_size),
      penalized_(vocab_size, 0) {}

void Sampler::reseed(uint32_t seed) {
  seed_ = seed;
  rng_.seed(seed);
}

void Sampler::check_size(size_t n_logits) const {
  if (n_logits != vocab_size_) {
    abort_with_status(Status::invalid_argument("Sampler: got " + std::to_string(n_logits) +
                                               " logits for a sampler created for " +
                                               std::to_string(vocab_size_)));
  }
}

void Sampler::apply_repeat_penalty(std::span<float> logits, std::span<const TokenId> history) {
  const float penalty = options_.repeat_penalty;
  if (penalty == 1.0f || options_.repeat_last_n == 0 || history.empty()) return;
  const size_t window = options_.repeat_last_n < 0
                            ? history.size()
                            : std::min(history.size(), static_cast<size_t>(options_.repeat_last_n));
  const std::span<const TokenId> recent = history.last(window);
  const auto in_vocab = [&](TokenId t) { return t >= 0 && static_cast<size_t>(t) < vocab_size_; };
  // Each distinct token once, however often it occurs (llama.cpp's repeat penalty; frequency and
  // presence penalties are the ones that count occurrences).
  for (TokenId t : recent) {
    if (!in_vocab(t) || penalized_[t]) continue;
    penalized_[t] = 1;
    float& l = logits[t];
    l = l <= 0 ? l * penalty : l / penalty;
  }
  for (TokenId t : recent) {
    if (in_vocab(t)) penalized_[t] = 0;
  }
}

size_t Sampler::filter(std::span<const float> logits, bool most_likely_first) {
  TokenId* const first = ids_.data();
  size_t count = 0;
  float max_logit = kNegInf;
  for (size_t i = 0; i < logits.size(); ++i) {
    const float l = logits[i];
    if (l > kNegInf) {  // false for -inf and NaN: those are never candidates
      first[count++] = static_cast<TokenId>(i);
      max_logit = std::max(max_logit, l);
    }
  }
  if (count == 0) return 0;
  if (std::isinf(max_logit)) {
    // A +inf logit is certainty: only the +inf tokens remain, and softmax over them is uniform.
    count = static_cast<size_t>(
        std::partition(first, first + count, [&](TokenId id) { return std::isinf(logits[id]); }) -
        first);
    std::sort(first, first + count);
    return count;
  }

  // A strict total order: higher logit first, lower id first among equal logits.
  const auto more_likely = [&](TokenId a, TokenId b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  };
  bool sorted = false;

  // top-k.
  const int32_t top_k = options_.top_k;
  if (top_k > 0 && static_cast<size_t>(top_k) < count) {
    std::nth_element(first, first + top_k, first + count, more_likely);
    count = static_cast<size_t>(top_k);
    std::sort(first, first + count, more_likely);
    sorted = true;
  }

  // min-p's threshold, in logits: p_i >= min_p * p_max  <=>  logit_i >= max_logit + log(min_p).
  const float min_p = options_.min_p;
  const float min_logit = min_p > 0 ? max_logit + std::log(min_p) : kNegInf;
  const auto passes_min_p = [&](TokenId id) { return logits[id] >= min_logit; };

  // top-p, over the probabilities at temperature 1 of what top-k left.
  if (options_.top_p < 1.0f) {
    double sum = 0;
    for (size_t i = 0; i < count; ++i) {
      sum += std::exp(static_cast<double>(logits[first[i]]) - max_logit);
    }
    // top-p keeps a run of the most likely tokens and so does min-p, which follows it (min-p's
    // threshold is relative, so renormalising after top-p does not move it): the result is the
    // shorter run. Only min-p's survivors can be kept, so only they need sorting.
    size_t sortable = count;
    if (min_p > 0 && !sorted) {
      sortable = static_cast<size_t>(std::partition(first, first + count, passes_min_p) - first);
    }
    if (!sorted) std::sort(first, first + sortable, more_likely);
    sorted = true;
    size_t keep = sortable;
    double cumulative = 0;
    for (size_t i = 0; i < sortable; ++i) {
      cumulative += std::exp(static_cast<double>(logits[first[i]]) - max_logit) / sum;
      if (cumulative >= options_.top_p) {
        keep = i + 1;
        break;
      }
    }
    count = keep;
  }

  // min-p. The most likely token always passes (min_p <= 1).
  if (min_p > 0) {
    if (sorted) {
      while (count > 1 && !passes_min_p(first[count - 1])) --count;
    } else {
      count = static_cast<size_t>(std::partition(first, first + count, passes_min_p) - first);
    }
  }
  // Left unsorted for the draw when only min-p (or nothing) filtered: it needs no order, and
  // sorting 150k candidates per token would cost more than everything else.
  if (!sorted && most_likely_first) std::sort(first, first + count, more_likely);
  return count;
}

std::span<const TokenId> Sampler::candidates(std::span<float> logits,
                                             std::span<const TokenId> history) {
  check_size(logits.size());
  apply_repeat_penalty(logits, history);
  return {ids_.data(), filter(logits, /*most_likely_first=*/true)};
}

TokenId Sampler::sample(std::span<float> logits, std::span<const TokenId> history) {
  check_size(logits.size());
  apply_repeat_penalty(logits, history);

  if (options_.temperature <= 0) {
    // Greedy: the first maximum, so the lowest id among equal logits. NaN never compares greater.
    TokenId best = 0;
    float best_logit = kNegInf;
    for (size_t i = 0; i < logits.size(); ++i) {
      if (logits[i] > best_logit) {
        best_logit = logits[i];
        best = static_cast<TokenId>(i);
      }
    }
    return best;
  }

  const size_t count = filter(logits, /*most_likely_first=*/false);
  if (count == 0) return 0;
  const TokenId* ids = ids_.data();
  if (count == 1) return ids[0];

  // softmax(logit / T) up to its normaliser, which the draw scales instead.
  float max_logit = kNegInf;
  for (size_t i = 0; i < count; ++i) max_logit = std::max(max_logit, logits[ids[i]]);
  const double inv_temperature = 1.0 / options_.temperature;
  double total = 0;
  for (size_t i = 0; i < count; ++i) {
    const float l = logits[ids[i]];
    // +inf candidates (all of them are, when one is) share the probability equally.
    const double w =
        std::isinf(l) ? 1.0 : std::exp((static_cast<double>(l) - max_logit) * inv_temperature);
    weights_[i] = w;
    total += w;
  }
  double r = std::uniform_real_distribution<double>(0.0, 1.0)(rng_) * total;
  for (size_t i = 0; i < count; ++i) {
    r -= weights_[i];
    if (r < 0) return ids[i];
  }
  // Rounding left r at or just above 0: the last candidate with any weight.
  for (size_t i = count; i-- > 0;) {
    if (weights_[i] > 0) return ids[i];
  }
  return ids[0];
}

}  // namespace ragkit::embed
