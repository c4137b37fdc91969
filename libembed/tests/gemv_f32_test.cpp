// The F32 decode kernel against a double-precision dot product, for every instruction set this
// CPU has, batch sizes 1-4, and row lengths that are and are not multiples of the vector width.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "ops/gemv_f32.h"

namespace ragkit::embed::ops {
namespace {

TEST(GemvF32, MatchesDoublePrecisionOnEveryIsa) {
  std::mt19937 rng(7);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (GemvIsa isa : {GemvIsa::kScalar, GemvIsa::kAvx2, GemvIsa::kAvx512}) {
    for (int64_t in : {1, 7, 16, 37, 576, 1000}) {
      for (int64_t n = 1; n <= kGemvMaxRows; ++n) {
        const int64_t out = 13;
        std::vector<float> w(static_cast<size_t>(out * in)), x(static_cast<size_t>(n * in));
        for (float& v : w) v = dist(rng);
        for (float& v : x) v = dist(rng);
        const int64_t stride = out + 3;
        std::vector<float> y(static_cast<size_t>(n * stride), -1.0f);
        // Rows 2..10 only: the others must stay untouched.
        if (!gemv_f32_with(isa, w.data(), in, in, x.data(), n, y.data(), stride, 2, 11)) {
          GTEST_LOG_(INFO) << "this CPU lacks ISA " << static_cast<int>(isa);
          continue;
        }
        for (int64_t r = 0; r < n; ++r) {
          for (int64_t o = 0; o < stride; ++o) {
            const float got = y[static_cast<size_t>(r * stride + o)];
            if (o < 2 || o >= 11) {
              EXPECT_EQ(got, -1.0f);
              continue;
            }
            double want = 0, mag = 0;
            for (int64_t i = 0; i < in; ++i) {
              const double p = double(w[static_cast<size_t>(o * in + i)]) * x[static_cast<size_t>(r * in + i)];
              want += p;
              mag += std::fabs(p);
            }
            EXPECT_NEAR(got, want, 1e-6 * mag + 1e-6) << "isa " << static_cast<int>(isa) << " in " << in;
          }
        }
      }
    }
  }
}

// Attention's use: rows are strided (a head's slice of each cached key), and the weighted sum of
// strided value rows.
TEST(GemvF32, StridedRowsAndWeightedRowSums) {
  std::mt19937 rng(3);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  const int64_t width = 64, stride = 192, count = 37;
  std::vector<float> rows(static_cast<size_t>(count * stride)), q(static_cast<size_t>(2 * width));
  for (float& v : rows) v = dist(rng);
  for (float& v : q) v = dist(rng);
  const float* head = rows.data() + 64;  // the second of three 64-wide slices
  std::vector<float> scores(static_cast<size_t>(2 * count));
  gemv_f32(head, width, stride, q.data(), 2, scores.data(), count, 0, count);
  for (int64_t r = 0; r < 2; ++r) {
    for (int64_t j = 0; j < count; ++j) {
      double want = 0;
      for (int64_t i = 0; i < width; ++i) want += double(head[j * stride + i]) * q[static_cast<size_t>(r * width + i)];
      EXPECT_NEAR(scores[static_cast<size_t>(r * count + j)], want, 1e-4);
    }
  }
  std::vector<float> out(static_cast<size_t>(width), 99.0f);
  add_scaled_rows(head, stride, scores.data(), count, out.data(), width);
  for (int64_t i = 0; i < width; ++i) {
    double want = 0;
    for (int64_t j = 0; j < count; ++j) want += double(scores[static_cast<size_t>(j)]) * head[j * stride + i];
    EXPECT_NEAR(out[static_cast<size_t>(i)], want, 1e-3);
  }
}

}  // namespace
}  // namespace ragkit::embed::ops
