// Sampler: the logits of the next token -> one token id, the way llama.cpp's default sampler
// chain picks it (common/sampling.cpp): repetition penalty -> top-k -> top-p -> min-p ->
// temperature -> a weighted random draw. Temperature 0 is greedy decoding (argmax).
//
// The definitions follow llama.cpp (src/llama-sampling.cpp):
//   - repetition penalty: every distinct token among the last repeat_last_n tokens of the
//     history has its logit divided by repeat_penalty when positive, multiplied when <= 0;
//   - top-k keeps the k highest logits;
//   - top-p keeps the shortest run of the most probable tokens (probabilities at temperature 1
//     over what top-k left) whose cumulative probability reaches top_p, at least one token;
//   - min-p keeps the tokens whose probability is at least min_p times the most probable one's
//     (logit >= max_logit + log(min_p));
//   - temperature T turns the survivors' logits into probabilities softmax(logit / T), and the
//     token is drawn from them with a std::mt19937 seeded from SamplingOptions::seed.
// Ties are broken towards the lower token id everywhere (argmax, top-k), so the candidate sets
// and, for a given seed, the drawn tokens do not depend on the standard library's sort.
//
// Cost: buffers of vocab_size entries are allocated once, in create(); sample() allocates
// nothing. With top-k on (the default) a call is O(vocab_size) (nth_element); with top-k off
// and top-p on, the survivors of min-p (all tokens when min-p is off too) are sorted.
//
// Thread-safety: a Sampler holds scratch buffers and a random generator; one thread at a time.
// Use one Sampler per generated sequence.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "ragkit/common/status.h"
#include "ragkit/embed/tokenizer.h"

namespace ragkit::embed {

struct SamplingOptions {
  // The seed used when `seed` keeps its default.
  static constexpr uint32_t kDefaultSeed = 1234;

  // Softmax temperature of the final draw: below 1 sharpens the distribution, above 1 flattens
  // it. 0 means greedy decoding: the highest logit after the repetition penalty, the lowest id
  // among equal logits (the other filters cannot change that choice and are skipped).
  // Default: 0.8 (llama.cpp's). Must be >= 0.
  float temperature = 0.8f;
  // Keep only the k most likely tokens. 0 turns the filter off. Default: 40 (llama.cpp's).
  int32_t top_k = 40;
  // Nucleus sampling: keep the most likely tokens until their cumulative probability reaches
  // top_p (at least one token). 1 turns the filter off. Default: 0.95 (llama.cpp's). In [0, 1].
  float top_p = 0.95f;
  // Keep tokens at least min_p times as likely as the most likely one. 0 turns the filter off.
  // Default: 0.05 (llama.cpp's). In [0, 1].
  float min_p = 0.05f;
  // Repetition penalty (CTRL, Keskar et al. 2019) on the tokens of the last repeat_last_n tokens
  // of the history. 1 turns it off. Default: 1.0 (off, llama.cpp's). Must be > 0.
  float repeat_penalty = 1.0f;
  // How many of the most recent history tokens the repetition penalty looks at; 0 turns the
  // penalty off, -1 means the whole history. Default: 64 (llama.cpp's).
  int32_t repeat_last_n = 64;
  // Seed of the random draw: the same seed, logits and history give the same tokens.
  // std::nullopt draws a random seed from std::random_device (Sampler::seed() reports it, so a
  // run can be repeated). Default: kDefaultSeed.
  std::optional<uint32_t> seed = kDefaultSeed;
  // The most tokens one generation may produce; 0 means no limit other than the end-of-
  // generation token and the context size. Enforced by the generator, not by Sampler.
  // Default: 512. Must be >= 0.
  int32_t max_tokens = 512;
  // Generation stops when the generated text contains one of these strings; the stop string
  // itself is not part of the answer (see StopMatcher). Enforced by the generator.
  // Default: none. Each must be non-empty.
  std::vector<std::string> stop_strings;
};

// Ok, or invalid_argument naming the first option out of its documented range.
Status validate_sampling_options(const SamplingOptions& options);

class Sampler {
 public:
  // A sampler for logits of vocab_size entries (the model's output width, which may exceed the
  // tokenizer's vocabulary). Fails when the options are out of range or vocab_size is 0.
  static Result<Sampler> create(const SamplingOptions& options, size_t vocab_size);

  Sampler(Sampler&&) = default;
  Sampler& operator=(Sampler&&) = default;
  Sampler(const Sampler&) = delete;
  Sampler& operator=(const Sampler&) = delete;

  // Picks the next token. `logits` has exactly vocab_size() entries (checked: aborts otherwise)
  // and is modified in place by the repetition penalty. `history` is the sequence so far (prompt
  // and generated tokens, oldest first); only its last repeat_last_n tokens matter, and ids
  // outside [0, vocab_size) are ignored. NaN logits are never chosen; if no logit is above
  // -infinity the result is token 0. Allocates nothing.
  TokenId sample(std::span<float> logits, std::span<const TokenId> history);

  // The chain without the draw: applies the repetition penalty to `logits` (as sample() does)
  // and returns the ids that survive top-k, top-p and min-p, most likely first. The span points
  // into this Sampler and stays valid until its next call. Temperature does not filter, so a
  // greedy sampler's candidates are those of a random one; sample() would pick the first.
  std::span<const TokenId> candidates(std::span<float> logits, std::span<const TokenId> history);

  // Restarts the random sequence, as if the Sampler had been created with this seed.
  void reseed(uint32_t seed);

  // The seed in use (the random one when SamplingOptions::seed was std::nullopt).
  uint32_t seed() const { return seed_; }
  const SamplingOptions& options() const { return options_; }
  size_t vocab_size() const { return vocab_size_; }

 private:
  Sampler(const SamplingOptions& options, size_t vocab_size, uint32_t seed);

  void check_size(size_t n_logits) const;
  void apply_repeat_penalty(std::span<float> logits, std::span<const TokenId> history);
  // Fills ids_ with the filtered candidates and returns how many there are; sorted most likely
  // first when asked (otherwise only when a filter needed the order anyway).
  size_t filter(std::span<const float> logits, bool most_likely_first);

  SamplingOptions options_;
  size_t vocab_size_ = 0;
  uint32_t seed_ = 0;
  std::mt19937 rng_;
  // Scratch of vocab_size_ entries each, allocated once.
  std::vector<TokenId> ids_;        // candidate ids
  std::vector<double> weights_;     // draw weights of the candidates, in ids_ order
  std::vector<uint8_t> penalized_;  // marks tokens already penalized in this call
};

}  // namespace ragkit::embed
