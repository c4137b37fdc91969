// Int8Rows (store/int8_rows.h): the integer dot-product kernels of every instruction set give the
// exact sum at every length (the vector bodies and their tails) without saturating, and quantized
// inner products of unit vectors stay within the error the per-row scales allow.
#include "store/int8_rows.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

namespace ragkit::retrieval::store {
namespace {

TEST(DotCodes, EveryKernelGivesTheExactSumAtEveryLength) {
  std::mt19937_64 rng(3);
  std::uniform_int_distribution<int> code(-127, 127);
  for (size_t d : {0, 1, 15, 16, 31, 32, 33, 63, 64, 65, 127, 128, 129, 200, 384, 385, 1000}) {
    std::vector<int8_t> a(d), b(d);
    int64_t want = 0;
    for (size_t j = 0; j < d; ++j) {
      a[j] = static_cast<int8_t>(code(rng));
      b[j] = static_cast<int8_t>(code(rng));
      want += int64_t{a[j]} * b[j];
    }
    for (CodesIsa isa :
         {CodesIsa::kScalar, CodesIsa::kAvx2, CodesIsa::kAvx512Bw, CodesIsa::kAvx512Vnni}) {
      int32_t got = 0;
      if (!dot_codes_with(isa, a.data(), b.data(), d, &got)) continue;
      EXPECT_EQ(got, want) << "kernel " << static_cast<int>(isa) << ", d=" << d;
    }
    EXPECT_EQ(dot_codes(a.data(), b.data(), d), want);
  }
}

TEST(DotCodes, ExtremeCodesDoNotSaturate) {
  // Pairs of 127 * 127 (and -127 * -127) are where a 16-bit intermediate would overflow.
  constexpr size_t kDim = 65536;
  for (int8_t x : {int8_t{127}, int8_t{-127}}) {
    const std::vector<int8_t> a(kDim, x), b(kDim, x), c(kDim, static_cast<int8_t>(-x));
    for (CodesIsa isa :
         {CodesIsa::kScalar, CodesIsa::kAvx2, CodesIsa::kAvx512Bw, CodesIsa::kAvx512Vnni}) {
      int32_t same = 0, opposite = 0;
      if (!dot_codes_with(isa, a.data(), b.data(), kDim, &same)) continue;
      ASSERT_TRUE(dot_codes_with(isa, a.data(), c.data(), kDim, &opposite));
      EXPECT_EQ(same, 127 * 127 * int32_t{kDim}) << static_cast<int>(isa);
      EXPECT_EQ(opposite, -127 * 127 * int32_t{kDim}) << static_cast<int>(isa);
    }
  }
}

TEST(Int8Rows, QuantizedQueriesAndRowPairsStayWithinTheQuantizationError) {
  constexpr size_t kDim = 384, kRows = 50;
  std::mt19937_64 rng(4);
  std::normal_distribution<float> normal;
  std::vector<float> rows(kRows * kDim);
  for (size_t r = 0; r < kRows; ++r) {
    double s = 0;
    for (size_t j = 0; j < kDim; ++j) {
      rows[r * kDim + j] = normal(rng);
      s += double(rows[r * kDim + j]) * rows[r * kDim + j];
    }
    for (size_t j = 0; j < kDim; ++j) rows[r * kDim + j] /= static_cast<float>(std::sqrt(s));
  }
  Int8Rows compact(kDim);
  compact.append(rows.data(), kRows);
  std::vector<int8_t> codes(kDim);
  for (size_t a = 0; a < kRows; ++a) {
    const float* x = &rows[a * kDim];
    const float scale = Int8Rows::quantize(x, kDim, codes.data());
    EXPECT_EQ(scale, compact.row_scale(a));
    EXPECT_EQ(std::memcmp(codes.data(), compact.row_codes(a), kDim), 0);
    for (size_t b = 0; b < kRows; ++b) {
      const float* y = &rows[b * kDim];
      double exact = 0, largest_x = 0, largest_y = 0;
      for (size_t j = 0; j < kDim; ++j) {
        exact += double(x[j]) * y[j];
        largest_x = std::max(largest_x, double(std::fabs(x[j])));
        largest_y = std::max(largest_y, double(std::fabs(y[j])));
      }
      // Each side's error as in the test above, plus the (smaller) product of the two.
      const double bound = std::sqrt(double(kDim)) * (largest_x + largest_y) / 254.0 +
                           kDim * largest_x * largest_y / (254.0 * 254.0);
      EXPECT_NEAR(compact.inner_product(codes.data(), scale, b), exact, bound);
      EXPECT_NEAR(compact.row_inner_product(a, b), exact, bound);
      EXPECT_EQ(compact.row_inner_product(a, b), compact.inner_product(codes.data(), scale, b));
    }
  }
  compact.truncate(10);
  EXPECT_EQ(compact.size(), 10u);
  compact.truncate(20);  // never grows
  EXPECT_EQ(compact.size(), 10u);
}

TEST(Int8Rows, InnerProductsOfUnitVectorsStayWithinTheQuantizationError) {
  constexpr size_t kDim = 384, kRows = 200;
  std::mt19937_64 rng(2);
  std::normal_distribution<float> normal;
  std::vector<float> rows(kRows * kDim), query(kDim);
  auto unit = [&](float* v) {
    double s = 0;
    for (size_t j = 0; j < kDim; ++j) {
      v[j] = normal(rng);
      s += double(v[j]) * v[j];
    }
    for (size_t j = 0; j < kDim; ++j) v[j] /= static_cast<float>(std::sqrt(s));
  };
  for (size_t r = 0; r < kRows; ++r) unit(&rows[r * kDim]);
  unit(query.data());
  Int8Rows compact(kDim);
  compact.append(rows.data(), 100);
  compact.append(rows.data() + 100 * kDim, kRows - 100);  // appends in pieces
  ASSERT_EQ(compact.size(), kRows);
  EXPECT_EQ(compact.row_bytes(), kDim + 4);
  std::vector<int8_t> query_codes(kDim);
  const float query_scale = Int8Rows::quantize(query.data(), kDim, query_codes.data());
  double query_largest = 0;
  for (float x : query) query_largest = std::max(query_largest, double(std::fabs(x)));
  for (size_t r = 0; r < kRows; ++r) {
    const float* x = &rows[r * kDim];
    double exact = 0, largest = 0;
    for (size_t j = 0; j < kDim; ++j) {
      exact += double(query[j]) * x[j];
      largest = std::max(largest, double(std::fabs(x[j])));
    }
    // Each code is off by at most half a step (largest / 254); the row's error is bounded by
    // sum_j |q_j| * step / 2 <= sqrt(d) * step / 2 for a unit query, the query's likewise, and
    // the product of the two errors by d * both half steps.
    const double bound = std::sqrt(double(kDim)) * (largest + query_largest) / 254.0 +
                         kDim * largest * query_largest / (254.0 * 254.0);
    EXPECT_NEAR(compact.inner_product(query_codes.data(), query_scale, r), exact, bound)
        << "row " << r;
  }
}

TEST(Int8Rows, AZeroRowScoresZero) {
  Int8Rows compact(8);
  const std::vector<float> zero(8, 0.0f), q(8, 1.0f);
  compact.append(zero.data(), 1);
  std::vector<int8_t> codes(8);
  const float scale = Int8Rows::quantize(q.data(), 8, codes.data());
  EXPECT_EQ(compact.inner_product(codes.data(), scale, 0), 0.0f);
  EXPECT_EQ(Int8Rows::quantize(zero.data(), 8, codes.data()), 0.0f);
  EXPECT_EQ(codes, std::vector<int8_t>(8, 0));
  compact.clear();
  EXPECT_EQ(compact.size(), 0u);
}

}  // namespace
}  // namespace ragkit::retrieval::store
