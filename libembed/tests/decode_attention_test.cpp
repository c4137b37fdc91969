// A decoded token's attention computed in slices and merged, against softmax attention in double
// precision: every instruction set this CPU has, head sizes that are and are not multiples of the
// vector width, groups of one to nine query heads (the AVX-512 kernels' key blocks of 8, 4 and 2,
// and a group too large for them), key counts around the blocks, and slicings from one part to
// one per few positions.
#include "ops/decode_attention.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "ragkit/embed/tensor.h"

namespace ragkit::embed::ops {
namespace {

struct Cache {
  int64_t count, stride, head_dim, group;
  std::vector<float> keys, values, q;
};

// One key/value head at column offset head_dim in rows of `stride` floats (a middle head of the
// cache), so that strided access is exercised.
Cache make_cache(int64_t count, int64_t head_dim, int64_t group, float spread, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, spread);
  Cache c{count, 3 * head_dim, head_dim, group, {}, {}, {}};
  c.keys.resize(static_cast<size_t>(count * c.stride));
  c.values.resize(c.keys.size());
  c.q.resize(static_cast<size_t>(group * head_dim));
  for (float& v : c.keys) v = dist(rng);
  for (float& v : c.values) v = dist(rng);
  for (float& v : c.q) v = dist(rng);
  return c;
}

std::vector<double> reference(const Cache& c, int64_t r, float scale) {
  std::vector<double> s(static_cast<size_t>(c.count));
  double top = -std::numeric_limits<double>::infinity();
  for (int64_t t = 0; t < c.count; ++t) {
    double dot = 0;
    for (int64_t i = 0; i < c.head_dim; ++i) {
      dot += double(c.q[static_cast<size_t>(r * c.head_dim + i)]) *
             c.keys[static_cast<size_t>(t * c.stride + c.head_dim + i)];
    }
    s[static_cast<size_t>(t)] = scale * dot;
    top = std::max(top, s[static_cast<size_t>(t)]);
  }
  double total = 0;
  for (double& v : s) total += (v = std::exp(v - top));
  std::vector<double> out(static_cast<size_t>(c.head_dim));
  for (int64_t t = 0; t < c.count; ++t) {
    for (int64_t i = 0; i < c.head_dim; ++i) {
      out[static_cast<size_t>(i)] += s[static_cast<size_t>(t)] / total *
                                     c.values[static_cast<size_t>(t * c.stride + c.head_dim + i)];
    }
  }
  return out;
}

// Runs the slices the way the transformer does and merges each head's parts; with f16, over the
// keys and values rounded to IEEE half (and c's floats replaced by the rounded values, for the
// reference).
bool attend(SimdIsa isa, Cache& c, int64_t slices, float scale, std::vector<float>& out,
            bool f16 = false) {
  std::vector<uint16_t> keys16(c.keys.size()), values16(c.values.size());
  if (f16) {
    for (size_t i = 0; i < c.keys.size(); ++i) {
      keys16[i] = fp32_to_fp16(c.keys[i]);
      values16[i] = fp32_to_fp16(c.values[i]);
      c.keys[i] = fp16_to_fp32(keys16[i]);
      c.values[i] = fp16_to_fp32(values16[i]);
    }
  }
  const int64_t per = (c.count + slices - 1) / slices;
  const int64_t hd = c.head_dim;
  std::vector<float> part_out(static_cast<size_t>(slices * c.group * hd), 7.0f);
  std::vector<float> part_max(static_cast<size_t>(slices * c.group), 7.0f);
  std::vector<float> part_sum(part_max.size(), 7.0f);
  std::vector<float> scores(static_cast<size_t>(c.group * per));
  int64_t used = 0;
  for (int64_t sl = 0; sl * per < c.count; ++sl, ++used) {
    AttentionSlice s;
    s.q = c.q.data();
    const size_t at = static_cast<size_t>(sl * per * c.stride + hd);
    if (f16) {
      s.keys = keys16.data() + at;
      s.values = values16.data() + at;
      s.f16 = true;
    } else {
      s.keys = c.keys.data() + at;
      s.values = c.values.data() + at;
    }
    s.stride = c.stride;
    s.count = std::min(per, c.count - sl * per);
    s.group = c.group;
    s.head_dim = hd;
    s.scale = scale;
    const size_t part = static_cast<size_t>(sl * c.group);
    if (!attend_slice_with(isa, s, scores.data(), part_out.data() + part * static_cast<size_t>(hd),
                           part_max.data() + part, part_sum.data() + part)) {
      return false;
    }
  }
  out.assign(static_cast<size_t>(c.group * hd), 0.0f);
  for (int64_t r = 0; r < c.group; ++r) {
    merge_attention_parts(part_out.data() + r * hd, c.group * hd, part_max.data() + r,
                          part_sum.data() + r, c.group, used, hd, out.data() + r * hd);
  }
  return true;
}

TEST(DecodeAttention, SlicedAndMergedEqualsSoftmaxAttention) {
  const SimdIsa isas[] = {SimdIsa::kScalar, SimdIsa::kAvx2, SimdIsa::kAvx512};
  uint32_t seed = 1;
  for (SimdIsa isa : isas) {
    for (int64_t hd : {4, 8, 12, 64, 80, 128}) {
      for (int64_t group : {1, 2, 3, 4, 7, 8, 9}) {
        for (int64_t count : {1, 7, 8, 9, 31, 300}) {
          for (int64_t slices : {1, 2, 5}) {
            Cache c = make_cache(count, hd, group, 1.0f, seed++);
            const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
            std::vector<float> got;
            if (!attend(isa, c, slices, scale, got)) {
              GTEST_LOG_(INFO) << "this CPU lacks ISA " << static_cast<int>(isa);
              continue;
            }
            for (int64_t r = 0; r < group; ++r) {
              const std::vector<double> want = reference(c, r, scale);
              for (int64_t i = 0; i < hd; ++i) {
                ASSERT_NEAR(got[static_cast<size_t>(r * hd + i)], want[static_cast<size_t>(i)],
                            2e-5)
                    << "isa " << static_cast<int>(isa) << " hd " << hd << " group " << group
                    << " count " << count << " slices " << slices << " head " << r << " col " << i;
              }
            }
          }
        }
      }
    }
  }
}

// Keys and values held as IEEE half (an F16 KV cache): the same attention over the rounded values.
TEST(DecodeAttention, HalfKeysAndValuesGiveAttentionOverTheRoundedValues) {
  uint32_t seed = 500;
  for (SimdIsa isa : {SimdIsa::kScalar, SimdIsa::kAvx2, SimdIsa::kAvx512}) {
    for (int64_t hd : {4, 12, 64, 80}) {
      for (int64_t count : {1, 9, 130}) {
        Cache c = make_cache(count, hd, 3, 1.0f, seed++);
        const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
        std::vector<float> got;
        if (!attend(isa, c, 2, scale, got, /*f16=*/true)) continue;
        for (int64_t r = 0; r < 3; ++r) {
          const std::vector<double> want = reference(c, r, scale);
          for (int64_t i = 0; i < hd; ++i) {
            ASSERT_NEAR(got[static_cast<size_t>(r * hd + i)], want[static_cast<size_t>(i)], 2e-5)
                << "isa " << static_cast<int>(isa) << " hd " << hd << " count " << count;
          }
        }
      }
    }
  }
}

// Scores far apart (one slice's maximum hundreds above another's): the merge must rescale by the
// maxima instead of overflowing or dividing 0 by 0.
TEST(DecodeAttention, MergesSlicesWhoseScoresAreFarApart) {
  Cache c = make_cache(200, 64, 3, 1.0f, 99);
  // Keys of the second half aligned with the queries and large: their scores dominate.
  for (int64_t t = 100; t < 200; ++t) {
    for (int64_t i = 0; i < 64; ++i) {
      c.keys[static_cast<size_t>(t * c.stride + 64 + i)] = 40.0f * c.q[static_cast<size_t>(i)];
    }
  }
  for (SimdIsa isa : {SimdIsa::kScalar, best_simd_isa()}) {
    std::vector<float> got;
    ASSERT_TRUE(attend(isa, c, 2, 0.125f, got));
    for (int64_t r = 0; r < 3; ++r) {
      const std::vector<double> want = reference(c, r, 0.125f);
      for (int64_t i = 0; i < 64; ++i) {
        ASSERT_TRUE(std::isfinite(got[static_cast<size_t>(r * 64 + i)]));
        ASSERT_NEAR(got[static_cast<size_t>(r * 64 + i)], want[static_cast<size_t>(i)], 1e-4)
            << "isa " << static_cast<int>(isa) << " head " << r << " col " << i;
      }
    }
  }
}

// A part with no positions (more slices than positions) weighs nothing in the merge.
TEST(DecodeAttention, EmptyPartWeighsNothing) {
  const float outs[4] = {1.0f, 2.0f, 0.0f, 0.0f};
  const float max[2] = {3.0f, -std::numeric_limits<float>::infinity()};
  const float sum[2] = {2.0f, 0.0f};
  float out[2];
  merge_attention_parts(outs, 2, max, sum, 1, 2, 2, out);
  EXPECT_FLOAT_EQ(out[0], 0.5f);
  EXPECT_FLOAT_EQ(out[1], 1.0f);
}

}  // namespace
}  // namespace ragkit::embed::ops
