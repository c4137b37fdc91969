// Sampler tests: greedy decoding and its tie rule, seeds, each filter's exact candidate set on
// hand-made distributions, the chain's order, the optimised filter paths against a plain
// reference on a 150k vocabulary, the empirical distribution of draws against softmax(logit / T),
// the repetition penalty's arithmetic, and "no allocation per call".
#include "ragkit/embed/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <numeric>
#include <random>
#include <set>
#include <vector>

#include "allocation_counter.h"

namespace ragkit::embed {
namespace {

using Ids = std::vector<TokenId>;
constexpr float kInf = std::numeric_limits<float>::infinity();

// Every filter and the penalty off: the draw alone.
SamplingOptions unfiltered(float temperature = 1.0f) {
  SamplingOptions o;
  o.temperature = temperature;
  o.top_k = 0;
  o.top_p = 1.0f;
  o.min_p = 0.0f;
  o.repeat_penalty = 1.0f;
  return o;
}

Sampler make_sampler(const SamplingOptions& options, size_t vocab_size) {
  auto sampler = Sampler::create(options, vocab_size);
  EXPECT_TRUE(sampler.ok()) << sampler.status().to_string();
  return std::move(sampler).value();
}

Ids candidates_of(const SamplingOptions& options, std::vector<float> logits,
                  const Ids& history = {}) {
  Sampler sampler = make_sampler(options, logits.size());
  const auto c = sampler.candidates(logits, history);
  return Ids(c.begin(), c.end());
}

// Logits whose softmax is exactly `probs` (up to float rounding).
std::vector<float> logits_of(const std::vector<double>& probs) {
  std::vector<float> logits;
  for (double p : probs) logits.push_back(static_cast<float>(std::log(p)));
  return logits;
}

TEST(SamplerGreedy, IsArgmaxWithLowestIdOnTies) {
  Sampler s = make_sampler(unfiltered(0.0f), 5);
  std::vector<float> logits = {1.0f, 5.0f, 3.0f, 5.0f, -2.0f};
  EXPECT_EQ(s.sample(logits, {}), 1);
  logits = {7.0f, 7.0f, 7.0f, 7.0f, 7.0f};
  EXPECT_EQ(s.sample(logits, {}), 0);
  logits = {-kInf, -kInf, -1e30f, -kInf, -1e30f};
  EXPECT_EQ(s.sample(logits, {}), 2);
}

TEST(SamplerGreedy, IgnoresNanAndAllMinusInfinityGivesTokenZero) {
  Sampler s = make_sampler(unfiltered(0.0f), 4);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> logits = {nan, 0.5f, nan, 0.25f};
  EXPECT_EQ(s.sample(logits, {}), 1);
  logits = {-kInf, -kInf, -kInf, -kInf};
  EXPECT_EQ(s.sample(logits, {}), 0);
}

TEST(SamplerGreedy, FiltersDoNotChangeTheChoiceButThePenaltyDoes) {
  SamplingOptions o;  // default filters on
  o.temperature = 0.0f;
  o.repeat_penalty = 4.0f;
  Sampler s = make_sampler(o, 4);
  std::vector<float> logits = {1.0f, 3.0f, 2.0f, 0.0f};
  EXPECT_EQ(s.sample(logits, {}), 1);
  logits = {1.0f, 3.0f, 2.0f, 0.0f};
  const Ids history = {1};  // 3 / 4 = 0.75 < 2
  EXPECT_EQ(s.sample(logits, history), 2);
}

TEST(SamplerRandom, SameSeedSameTokensAndReseedRepeats) {
  SamplingOptions o = unfiltered(1.0f);
  o.seed = 42;
  const std::vector<float> logits = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f, 0.8f};
  const auto run = [&](Sampler& s) {
    Ids out;
    for (int i = 0; i < 200; ++i) {
      std::vector<float> l = logits;
      out.push_back(s.sample(l, {}));
    }
    return out;
  };
  Sampler a = make_sampler(o, logits.size());
  Sampler b = make_sampler(o, logits.size());
  const Ids first = run(a);
  EXPECT_EQ(first, run(b));
  a.reseed(42);
  EXPECT_EQ(first, run(a));
  EXPECT_EQ(a.seed(), 42u);
  o.seed = 43;
  Sampler c = make_sampler(o, logits.size());
  EXPECT_NE(first, run(c));
  // Not one token all along: the draws do vary.
  EXPECT_GT(std::set<TokenId>(first.begin(), first.end()).size(), 4u);
}

TEST(SamplerRandom, RandomSeedIsReportedAndReproducible) {
  SamplingOptions o = unfiltered(1.0f);
  o.seed = std::nullopt;
  const std::vector<float> logits = {0.0f, 0.5f, 1.0f, 1.5f};
  Sampler random = make_sampler(o, logits.size());
  o.seed = random.seed();
  Sampler repeat = make_sampler(o, logits.size());
  for (int i = 0; i < 100; ++i) {
    std::vector<float> l1 = logits, l2 = logits;
    ASSERT_EQ(random.sample(l1, {}), repeat.sample(l2, {}));
  }
}

TEST(SamplerTopK, KeepsTheKHighestLowerIdFirstOnTies) {
  SamplingOptions o = unfiltered();
  o.top_k = 3;
  const std::vector<float> logits = {0.1f, 2.0f, 1.0f, 3.0f, 2.0f, -1.0f};
  EXPECT_EQ(candidates_of(o, logits), (Ids{3, 1, 4}));
  o.top_k = 2;
  EXPECT_EQ(candidates_of(o, logits), (Ids{3, 1}));
  o.top_k = 6;  // k >= vocabulary: everything, most likely first
  EXPECT_EQ(candidates_of(o, logits), (Ids{3, 1, 4, 2, 0, 5}));
  o.top_k = 0;  // off
  EXPECT_EQ(candidates_of(o, logits), (Ids{3, 1, 4, 2, 0, 5}));
}

TEST(SamplerTopK, MinusInfinityIsNeverACandidate) {
  SamplingOptions o = unfiltered();
  o.top_k = 3;
  EXPECT_EQ(candidates_of(o, {-kInf, 1.0f, -kInf, 0.0f}), (Ids{1, 3}));
}

TEST(SamplerTopP, KeepsTheShortestRunReachingP) {
  // Token probabilities: 0 -> 0.15, 1 -> 0.5, 2 -> 0.05, 3 -> 0.3.
  const std::vector<float> logits = logits_of({0.15, 0.5, 0.05, 0.3});
  SamplingOptions o = unfiltered();
  o.top_p = 0.3f;  // 0.5 alone reaches it
  EXPECT_EQ(candidates_of(o, logits), (Ids{1}));
  o.top_p = 0.75f;  // 0.5 + 0.3
  EXPECT_EQ(candidates_of(o, logits), (Ids{1, 3}));
  o.top_p = 0.9f;  // 0.5 + 0.3 + 0.15
  EXPECT_EQ(candidates_of(o, logits), (Ids{1, 3, 0}));
  o.top_p = 0.99f;
  EXPECT_EQ(candidates_of(o, logits), (Ids{1, 3, 0, 2}));
  o.top_p = 0.0f;  // at least one
  EXPECT_EQ(candidates_of(o, logits), (Ids{1}));
}

TEST(SamplerMinP, KeepsTokensAtLeastMinPTimesTheBest) {
  const std::vector<float> logits = logits_of({0.15, 0.5, 0.05, 0.3});
  SamplingOptions o = unfiltered();
  o.min_p = 0.2f;  // >= 0.1: 0.5, 0.3, 0.15
  EXPECT_EQ(candidates_of(o, logits), (Ids{1, 3, 0}));
  o.min_p = 0.5f;  // >= 0.25
  EXPECT_EQ(candidates_of(o, logits), (Ids{1, 3}));
  o.min_p = 1.0f;  // the best only
  EXPECT_EQ(candidates_of(o, logits), (Ids{1}));
  o.min_p = 0.05f;  // >= 0.025: all
  EXPECT_EQ(candidates_of(o, logits), (Ids{1, 3, 0, 2}));
}

TEST(SamplerChain, TopKBeforeTopPRenormalises) {
  // 0.4, 0.3, 0.2, 0.1. top-p 0.5 alone needs two tokens (0.4 < 0.5 <= 0.7); after top-k 2 the
  // survivors are 0.4/0.7 = 0.571 and 0.3/0.7, and one token reaches 0.5.
  const std::vector<float> logits = logits_of({0.4, 0.3, 0.2, 0.1});
  SamplingOptions o = unfiltered();
  o.top_p = 0.5f;
  EXPECT_EQ(candidates_of(o, logits), (Ids{0, 1}));
  o.top_k = 2;
  EXPECT_EQ(candidates_of(o, logits), (Ids{0}));
}

TEST(SamplerChain, TopPThenMinPKeepTheShorterRun) {
  const std::vector<float> logits = logits_of({0.1, 0.3, 0.4, 0.2});
  SamplingOptions o = unfiltered();
  o.top_p = 0.85f;  // 0.4 + 0.3 + 0.2
  EXPECT_EQ(candidates_of(o, logits), (Ids{2, 1, 3}));
  o.min_p = 0.6f;  // >= 0.24
  EXPECT_EQ(candidates_of(o, logits), (Ids{2, 1}));
  o.min_p = 0.2f;  // >= 0.08 keeps all four; top-p is the shorter
  EXPECT_EQ(candidates_of(o, logits), (Ids{2, 1, 3}));
}

TEST(SamplerChain, PenaltyComesFirst) {
  // Token 0 leads until the penalty halves it; then top-k 1 keeps token 1.
  SamplingOptions o = unfiltered();
  o.top_k = 1;
  o.repeat_penalty = 2.0f;
  EXPECT_EQ(candidates_of(o, {3.0f, 2.0f, 1.0f}), (Ids{0}));
  EXPECT_EQ(candidates_of(o, {3.0f, 2.0f, 1.0f}, {0}), (Ids{1}));
}

// The chain written the obvious way: sort everything, then each filter in turn.
Ids reference_candidates(const SamplingOptions& o, const std::vector<float>& logits) {
  Ids ids(logits.size());
  std::iota(ids.begin(), ids.end(), 0);
  std::sort(ids.begin(), ids.end(), [&](TokenId a, TokenId b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  });
  if (o.top_k > 0 && static_cast<size_t>(o.top_k) < ids.size()) ids.resize(o.top_k);
  const float max_logit = logits[ids[0]];
  if (o.top_p < 1.0f) {
    double sum = 0;
    for (TokenId id : ids) sum += std::exp(static_cast<double>(logits[id]) - max_logit);
    double cumulative = 0;
    for (size_t i = 0; i < ids.size(); ++i) {
      cumulative += std::exp(static_cast<double>(logits[ids[i]]) - max_logit) / sum;
      if (cumulative >= o.top_p) {
        ids.resize(i + 1);
        break;
      }
    }
  }
  if (o.min_p > 0) {
    const float min_logit = max_logit + std::log(o.min_p);
    while (ids.size() > 1 && logits[ids.back()] < min_logit) ids.pop_back();
  }
  return ids;
}

TEST(SamplerChain, LargeVocabularyMatchesThePlainChain) {
  constexpr size_t kVocab = 151936;  // Qwen2's output width
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::vector<float> logits(kVocab);
  for (float& l : logits) l = normal(rng);
  struct Filters {
    int32_t top_k;
    float top_p, min_p;
  };
  const Filters cases[] = {
      {40, 0.95f, 0.05f}, {0, 0.9f, 0.05f}, {0, 0.9f, 0.0f},     {0, 1.0f, 0.1f},
      {100, 1.0f, 0.0f},  {1, 0.5f, 0.5f},  {0, 0.999f, 0.001f},
  };
  for (const Filters& f : cases) {
    SamplingOptions o = unfiltered();
    o.top_k = f.top_k;
    o.top_p = f.top_p;
    o.min_p = f.min_p;
    const Ids expected = reference_candidates(o, logits);
    EXPECT_EQ(candidates_of(o, logits), expected)
        << "top_k " << f.top_k << " top_p " << f.top_p << " min_p " << f.min_p;
    EXPECT_GE(expected.size(), 1u);
  }
}

// The empirical distribution of many draws against softmax(logit / T): Pearson's chi-square
// statistic with 4 degrees of freedom exceeds 30 with probability 5e-6 (and the seed is fixed).
TEST(SamplerDistribution, DrawsFollowSoftmaxAtTemperature) {
  const std::vector<float> logits = {1.0f, 2.0f, 0.5f, 3.0f, 0.0f};
  for (float temperature : {0.7f, 1.0f, 1.8f}) {
    std::vector<double> expected(logits.size());
    double sum = 0;
    for (size_t i = 0; i < logits.size(); ++i)
      sum += expected[i] = std::exp(logits[i] / temperature);
    for (double& p : expected) p /= sum;

    Sampler s = make_sampler(unfiltered(temperature), logits.size());
    constexpr int kDraws = 200000;
    std::vector<int> counts(logits.size(), 0);
    for (int i = 0; i < kDraws; ++i) {
      std::vector<float> l = logits;
      ++counts[s.sample(l, {})];
    }
    double chi_square = 0;
    for (size_t i = 0; i < logits.size(); ++i) {
      const double e = expected[i] * kDraws;
      chi_square += (counts[i] - e) * (counts[i] - e) / e;
      EXPECT_NEAR(counts[i] / double(kDraws), expected[i], 0.005) << "token " << i;
    }
    EXPECT_LT(chi_square, 30.0) << "temperature " << temperature;
  }
}

TEST(SamplerDistribution, DrawsStayInsideTheFilteredSet) {
  // top-k 2 at T = 1: only tokens 3 and 1, in the ratio e^(3-2).
  SamplingOptions o = unfiltered(1.0f);
  o.top_k = 2;
  const std::vector<float> logits = {1.0f, 2.0f, 0.5f, 3.0f, 0.0f};
  Sampler s = make_sampler(o, logits.size());
  std::vector<int> counts(logits.size(), 0);
  constexpr int kDraws = 100000;
  for (int i = 0; i < kDraws; ++i) {
    std::vector<float> l = logits;
    ++counts[s.sample(l, {})];
  }
  EXPECT_EQ(counts[0] + counts[2] + counts[4], 0);
  EXPECT_NEAR(counts[3] / double(kDraws), std::exp(1.0) / (1.0 + std::exp(1.0)), 0.005);
}

TEST(SamplerDistribution, InfiniteLogitIsCertain) {
  Sampler s = make_sampler(unfiltered(1.0f), 4);
  for (int i = 0; i < 20; ++i) {
    std::vector<float> logits = {0.0f, kInf, 5.0f, 1.0f};
    EXPECT_EQ(s.sample(logits, {}), 1);
  }
}

TEST(SamplerRepeatPenalty, DividesPositiveMultipliesNegativeOncePerToken) {
  SamplingOptions o = unfiltered();
  o.repeat_penalty = 2.0f;
  Sampler s = make_sampler(o, 5);
  std::vector<float> logits = {2.0f, -1.0f, 0.5f, 0.0f, 3.0f};
  const Ids history = {0, 1, 3, 0, 1, 1, -1, 99};  // repeats count once; -1 and 99 are ignored
  (void)s.candidates(logits, history);
  EXPECT_EQ(logits, (std::vector<float>{1.0f, -2.0f, 0.5f, 0.0f, 3.0f}));
  // The marks of one call do not leak into the next.
  (void)s.candidates(logits, history);
  EXPECT_EQ(logits, (std::vector<float>{0.5f, -4.0f, 0.5f, 0.0f, 3.0f}));
}

TEST(SamplerRepeatPenalty, LooksAtTheLastNTokensOnly) {
  SamplingOptions o = unfiltered();
  o.repeat_penalty = 2.0f;
  o.repeat_last_n = 2;
  const Ids history = {4, 0, 1};
  {
    Sampler s = make_sampler(o, 5);
    std::vector<float> logits = {2.0f, -1.0f, 0.5f, 0.0f, 3.0f};
    (void)s.candidates(logits, history);
    EXPECT_EQ(logits, (std::vector<float>{1.0f, -2.0f, 0.5f, 0.0f, 3.0f}));
  }
  {
    o.repeat_last_n = -1;  // the whole history
    Sampler s = make_sampler(o, 5);
    std::vector<float> logits = {2.0f, -1.0f, 0.5f, 0.0f, 3.0f};
    (void)s.candidates(logits, history);
    EXPECT_EQ(logits, (std::vector<float>{1.0f, -2.0f, 0.5f, 0.0f, 1.5f}));
  }
  {
    o.repeat_last_n = 0;  // off
    Sampler s = make_sampler(o, 5);
    std::vector<float> logits = {2.0f, -1.0f, 0.5f, 0.0f, 3.0f};
    (void)s.candidates(logits, history);
    EXPECT_EQ(logits, (std::vector<float>{2.0f, -1.0f, 0.5f, 0.0f, 3.0f}));
  }
}

TEST(SamplerOptions, OutOfRangeValuesAreRejected) {
  const auto rejected = [](auto change) {
    SamplingOptions o;
    change(o);
    auto s = Sampler::create(o, 10);
    return !s.ok() && s.status().code() == Status::Code::kInvalidArgument;
  };
  EXPECT_TRUE(rejected([](SamplingOptions& o) { o.temperature = -0.1f; }));
  EXPECT_TRUE(rejected([](SamplingOptions& o) { o.temperature = std::nanf(""); }));
  EXPECT_TRUE(rejected([](SamplingOptions& o) { o.top_k = -1; }));
  EXPECT_TRUE(rejected([](SamplingOptions& o) { o.top_p = 1.5f; }));
  EXPECT_TRUE(rejected([](SamplingOptions& o) { o.min_p = -0.5f; }));
  EXPECT_TRUE(rejected([](SamplingOptions& o) { o.repeat_penalty = 0.0f; }));
  EXPECT_TRUE(rejected([](SamplingOptions& o) { o.repeat_last_n = -2; }));
  EXPECT_TRUE(rejected([](SamplingOptions& o) { o.max_tokens = -1; }));
  EXPECT_TRUE(rejected([](SamplingOptions& o) { o.stop_strings = {"ok", ""}; }));
  EXPECT_FALSE(rejected([](SamplingOptions&) {}));
  EXPECT_FALSE(Sampler::create(SamplingOptions{}, 0).ok());
  SamplingOptions bad_top_p;
  bad_top_p.top_p = 2.0f;
  auto s = Sampler::create(bad_top_p, 10);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("top_p"), std::string::npos) << s.status().message();
}

TEST(SamplerOptions, DefaultsAreLlamaCppDefaults) {
  const SamplingOptions o;
  EXPECT_FLOAT_EQ(o.temperature, 0.8f);
  EXPECT_EQ(o.top_k, 40);
  EXPECT_FLOAT_EQ(o.top_p, 0.95f);
  EXPECT_FLOAT_EQ(o.min_p, 0.05f);
  EXPECT_FLOAT_EQ(o.repeat_penalty, 1.0f);
  EXPECT_EQ(o.repeat_last_n, 64);
  EXPECT_EQ(o.seed, SamplingOptions::kDefaultSeed);
}

TEST(SamplerAllocation, NothingAllocatedPerCall) {
  // The counter works: a plain operator new is seen.
  EXPECT_GT(testing::allocations_during([] {
              void* p = ::operator new(64);
              asm volatile("" : : "g"(p) : "memory");  // keep the pair from being elided
              ::operator delete(p);
            }),
            0);

  constexpr size_t kVocab = 151936;
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::vector<float> logits(kVocab), scratch(kVocab);
  for (float& l : logits) l = normal(rng);
  Ids history;
  for (int i = 0; i < 100; ++i) history.push_back(static_cast<TokenId>(rng() % kVocab));

  SamplingOptions defaults;
  defaults.repeat_penalty = 1.1f;
  SamplingOptions no_top_k = defaults;
  no_top_k.top_k = 0;
  SamplingOptions greedy = defaults;
  greedy.temperature = 0.0f;
  SamplingOptions min_p_only = unfiltered(0.9f);
  min_p_only.min_p = 0.02f;
  for (const SamplingOptions* o : {&defaults, &no_top_k, &greedy, &min_p_only}) {
    Sampler s = make_sampler(*o, kVocab);
    const long n = testing::allocations_during([&] {
      for (int i = 0; i < 20; ++i) {
        std::copy(logits.begin(), logits.end(), scratch.begin());
        TokenId t = s.sample(scratch, history);
        asm volatile("" : : "g"(t) : "memory");
        std::copy(logits.begin(), logits.end(), scratch.begin());
        auto c = s.candidates(scratch, history);
        asm volatile("" : : "g"(c.data()) : "memory");
      }
    });
    EXPECT_EQ(n, 0) << "top_k " << o->top_k << " temperature " << o->temperature;
  }
}

}  // namespace
}  // namespace ragkit::embed
