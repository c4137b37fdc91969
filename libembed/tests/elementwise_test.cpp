// The element-wise kernels' approximations against libm, and what they do with values a corrupt
// or fuzzed model feeds them (NaN, infinities): NaN stays NaN, and nothing is undefined behaviour
// (the sanitizer build aborts on a float-to-int conversion of NaN).
#include "ops/elementwise.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

namespace ragkit::embed::ops {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

TEST(Elementwise, FastExpMatchesLibmOverItsRange) {
  // Relative error ~1e-7 over the whole range; it was 4e-6 at |x| ~ 70 while the reduction
  // subtracted k * ln2's low part first and rounded away the digits of x that k * hi cancels.
  double worst = 0;
  float worst_x = 0;
  for (float x = -87.0f; x <= 88.0f; x += 0.0137f) {
    const double want = std::exp(static_cast<double>(x));
    const double rel = std::fabs(fast_exp(x) - want) / want;
    if (rel > worst) worst = rel, worst_x = x;
  }
  EXPECT_LT(worst, 3e-7) << "at x = " << worst_x;
}

TEST(Elementwise, FastExpOfNanIsNanAndInfinitiesSaturate) {
  EXPECT_TRUE(std::isnan(fast_exp(kNaN)));
  EXPECT_TRUE(std::isnan(fast_exp(-kNaN)));
  EXPECT_GT(fast_exp(kInf), 1e38f);
  EXPECT_GE(fast_exp(-kInf), 0.0f);
  EXPECT_LT(fast_exp(-kInf), 1e-37f);
  EXPECT_TRUE(std::isnan(fast_erf(kNaN)));
}

TEST(Elementwise, ActivationsPropagateNan) {
  std::vector<float> x = {kNaN, 1.0f, -kInf, kInf, -1.0f};
  std::vector<float> y = x;
  silu(y.data(), static_cast<int64_t>(y.size()));
  EXPECT_TRUE(std::isnan(y[0]));
  EXPECT_NEAR(y[1], 1.0f / (1.0f + std::exp(-1.0f)), 1e-6f);
  EXPECT_EQ(y[3], kInf);
  y = x;
  gelu_erf(y.data(), static_cast<int64_t>(y.size()));
  EXPECT_TRUE(std::isnan(y[0]));
  y = x;
  gelu_tanh(y.data(), static_cast<int64_t>(y.size()));
  EXPECT_TRUE(std::isnan(y[0]));
}

TEST(Elementwise, SoftmaxOfARowWithNanIsNanNotUndefined) {
  std::vector<float> x(37, 0.5f);
  x[5] = kNaN;
  softmax(x.data(), static_cast<int64_t>(x.size()));
  EXPECT_TRUE(std::isnan(x[5]));

  std::vector<float> ok = {1.0f, 2.0f, 3.0f};
  softmax(ok.data(), 3);
  const float z = std::exp(1.0f) + std::exp(2.0f) + std::exp(3.0f);
  EXPECT_NEAR(ok[2], std::exp(3.0f) / z, 1e-6f);
}

// exp_minus_max finds the maximum wherever it sits: in any of the vector lanes or in the tail
// past the last whole vector, for lengths around the vector width.
TEST(Elementwise, ExpMinusMaxFindsTheMaximumInEveryPosition) {
  for (int64_t n : {1, 2, 15, 16, 17, 31, 32, 33, 47, 300}) {
    for (int64_t at = 0; at < n; ++at) {
      std::vector<float> x(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i)
        x[static_cast<size_t>(i)] = -0.25f * static_cast<float>(i % 7);
      x[static_cast<size_t>(at)] = 3.0f;
      float max = 0.0f;
      const float sum = exp_minus_max(x.data(), n, &max);
      ASSERT_EQ(max, 3.0f) << "n " << n << " max at " << at;
      ASSERT_EQ(x[static_cast<size_t>(at)], 1.0f) << "n " << n << " max at " << at;
      ASSERT_GE(sum, 1.0f);
    }
  }
}

}  // namespace
}  // namespace ragkit::embed::ops
