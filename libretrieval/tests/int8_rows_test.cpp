// Int8Rows (store/int8_rows.h): the kernels of every instruction set agree with a double-precision
// reference for every length (the vector bodies and their tails), and quantized inner products
// of unit vectors stay within the error the per-row scale allows.
#include "store/int8_rows.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace ragkit::retrieval::store {
namespace {

TEST(DotInt8, EveryInstructionSetMatchesTheReferenceAtEveryLength) {
  std::mt19937_64 rng(1);
  std::normal_distribution<float> normal;
  std::uniform_int_distribution<int> code(-127, 127);
  for (size_t d = 0; d <= 100; ++d) {
    std::vector<float> q(d);
    std::vector<int8_t> c(d);
    double want = 0;
    for (size_t j = 0; j < d; ++j) {
      q[j] = normal(rng);
      c[j] = static_cast<int8_t>(code(rng));
      want += double(q[j]) * c[j];
    }
    for (SimdIsa isa : {SimdIsa::kScalar, SimdIsa::kAvx2, SimdIsa::kAvx512}) {
      float got = 0;
      if (!dot_int8_with(isa, q.data(), c.data(), d, &got)) {
        // Refused only for an instruction set this CPU lacks.
        EXPECT_GT(static_cast<int>(isa), static_cast<int>(best_simd_isa()));
        continue;
      }
      EXPECT_NEAR(got, want, 1e-4 * (1 + std::fabs(want)) + 1e-3)
          << simd_isa_name(isa) << ", d=" << d;
    }
    EXPECT_NEAR(dot_int8(q.data(), c.data(), d), want, 1e-4 * (1 + std::fabs(want)) + 1e-3);
  }
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
  for (size_t r = 0; r < kRows; ++r) {
    const float* x = &rows[r * kDim];
    double exact = 0, largest = 0;
    for (size_t j = 0; j < kDim; ++j) {
      exact += double(query[j]) * x[j];
      largest = std::max(largest, double(std::fabs(x[j])));
    }
    // Each code is off by at most half a step (largest / 254); the error is bounded by
    // sum_j |q_j| * step / 2 <= sqrt(d) * step / 2 for a unit query.
    const double bound = std::sqrt(double(kDim)) * largest / 254.0;
    EXPECT_NEAR(compact.inner_product(query.data(), r), exact, bound) << "row " << r;
  }
}

TEST(Int8Rows, AZeroRowScoresZero) {
  Int8Rows compact(8);
  const std::vector<float> zero(8, 0.0f), q(8, 1.0f);
  compact.append(zero.data(), 1);
  EXPECT_EQ(compact.inner_product(q.data(), 0), 0.0f);
  compact.clear();
  EXPECT_EQ(compact.size(), 0u);
}

}  // namespace
}  // namespace ragkit::retrieval::store
