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

}  // namespace
}  // namespace ragkit::embed::ops
