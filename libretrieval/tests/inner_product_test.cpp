// The store's inner-product kernels, every instruction set this CPU has, against a double-precision
// reference: dimensions around each vector width (tails, masks) and row counts around the 4-row
// blocks.
#include "store/inner_product.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace ragkit::retrieval::store {
namespace {

std::vector<float> random_floats(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal;
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

double reference_dot(const float* a, const float* b, size_t d) {
  double s = 0;
  for (size_t i = 0; i < d; ++i) s += double{a[i]} * b[i];
  return s;
}

// Float accumulation of d products of N(0,1) values: error grows like sqrt(d) ulps of the
// partial sums' size.
double tolerance(size_t d) { return 1e-5 * std::sqrt(static_cast<double>(d) + 1) * 4; }

// Whether this CPU runs `isa`'s kernels. Where it does not, the kernels must refuse (and write
// nothing) rather than fault: that is what the test checks then, instead of skipping.
bool available(SimdIsa isa) {
  const float one = 1;
  float out = -123.0f;
  std::vector<float> rows(8, 1.0f);
  std::vector<float> outs(2, -123.0f);
  const bool single = inner_product_with(isa, &one, &one, 1, &out);
  const bool many = inner_products_with(isa, rows.data(), rows.data(), 1, 8, outs.data());
  EXPECT_EQ(single, many);
  const bool expected = isa == SimdIsa::kScalar || best_simd_isa() == isa ||
                        (isa == SimdIsa::kAvx2 && best_simd_isa() == SimdIsa::kAvx512);
  // An AVX-512 CPU without FMA does not exist; AVX2 is then available too.
  EXPECT_EQ(single, expected) << simd_isa_name(isa) << " on a CPU whose best is "
                              << simd_isa_name(best_simd_isa());
  if (!single) {
    EXPECT_EQ(out, -123.0f);
    EXPECT_EQ(outs[0], -123.0f);
  } else {
    EXPECT_EQ(out, 1.0f);
    EXPECT_EQ(outs[0], 8.0f);
  }
  return single;
}

class InnerProductIsa : public ::testing::TestWithParam<SimdIsa> {};

TEST_P(InnerProductIsa, MatchesTheReferenceForEveryDimension) {
  const SimdIsa isa = GetParam();
  if (!available(isa)) return;
  for (size_t d : {size_t{1}, size_t{3}, size_t{7}, size_t{8}, size_t{9}, size_t{15}, size_t{16},
                   size_t{17}, size_t{31}, size_t{32}, size_t{33}, size_t{63}, size_t{64},
                   size_t{65}, size_t{100}, size_t{384}, size_t{768}, size_t{1000}}) {
    const auto a = random_floats(d, d);
    const auto b = random_floats(d, d + 1000);
    float got = 0;
    ASSERT_TRUE(inner_product_with(isa, a.data(), b.data(), d, &got));
    EXPECT_NEAR(got, reference_dot(a.data(), b.data(), d), tolerance(d)) << "d = " << d;
  }
}

TEST_P(InnerProductIsa, RowsMatchOneAtATime) {
  const SimdIsa isa = GetParam();
  if (!available(isa)) return;
  for (size_t d : {size_t{5}, size_t{16}, size_t{37}, size_t{384}}) {
    for (size_t n : {size_t{0}, size_t{1}, size_t{3}, size_t{4}, size_t{5}, size_t{8}, size_t{11}}) {
      const auto q = random_floats(d, 7);
      const auto rows = random_floats(n * d, 11 + n);
      std::vector<float> out(n + 1, -123.0f);
      ASSERT_TRUE(inner_products_with(isa, q.data(), rows.data(), n, d, out.data()));
      for (size_t r = 0; r < n; ++r) {
        EXPECT_NEAR(out[r], reference_dot(q.data(), rows.data() + r * d, d), tolerance(d))
            << "d = " << d << ", row " << r << " of " << n;
      }
      EXPECT_EQ(out[n], -123.0f) << "wrote past the last row";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllIsas, InnerProductIsa,
                         ::testing::Values(SimdIsa::kScalar, SimdIsa::kAvx2, SimdIsa::kAvx512),
                         [](const auto& info) {
                           switch (info.param) {
                             case SimdIsa::kAvx512: return std::string("Avx512");
                             case SimdIsa::kAvx2: return std::string("Avx2");
                             case SimdIsa::kScalar: break;
                           }
                           return std::string("Scalar");
                         });

TEST(InnerProduct, TheDispatchedKernelIsTheBestAvailable) {
  const auto a = random_floats(384, 1), b = random_floats(384, 2);
  float best = 0;
  ASSERT_TRUE(inner_product_with(best_simd_isa(), a.data(), b.data(), 384, &best));
  EXPECT_EQ(inner_product(a.data(), b.data(), 384), best);
  std::vector<float> rows(3 * 384);
  std::copy(b.begin(), b.end(), rows.begin() + 384);
  std::vector<float> out(3);
  inner_products(a.data(), rows.data(), 3, 384, out.data());
  EXPECT_EQ(out[0], 0.0f);
  EXPECT_NEAR(out[1], best, 1e-5f);
}

}  // namespace
}  // namespace ragkit::retrieval::store
