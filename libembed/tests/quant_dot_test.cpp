// The activation converters and dot kernels of ops/quant_dot.h, and ops::linear on top of them.
//
// Activation converters: byte for byte against straightforward references (round half to even
// through std::nearbyint, F16 through the compiler's _Float16).
// Dot kernels: every weight type on every instruction-set level this CPU has, against a
// double-precision reference built from ragkit's bit-exact dequantizers, within 1e-5 of the sum of
// |products|; weight rows and activations at odd byte offsets; tiles of every shape giving the
// same bits for the same output; the quantized types bit-identical to the scalar kernels.
// linear(): all weight types, odd row counts, batches of 1..70 rows, against the same reference.
#include "ops/quant_dot.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "ops/matmul.h"
#include "ops/quant_dot_common.h"
#include "ragkit/common/thread_pool.h"
#include "ragkit/embed/tensor.h"

namespace ragkit::embed::ops {
namespace {

constexpr DType kDotTypes[] = {DType::kF16,  DType::kBF16, DType::kQ8_0, DType::kQ4_0,
                               DType::kQ4_1, DType::kQ5_0, DType::kQ5_1, DType::kQ2_K,
                               DType::kQ3_K, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K};

std::vector<Isa> supported_isas() {
  std::vector<Isa> out;
  for (Isa isa : kAllIsas) {
    if (isa_supported(isa)) out.push_back(isa);
  }
  return out;
}

// Restores the automatic choice when a test that forced a level ends.
struct ForcedIsa {
  explicit ForcedIsa(Isa isa) { ok = force_isa(isa); }
  ~ForcedIsa() { clear_forced_isa(); }
  bool ok = false;
};

// float -> IEEE half bits, rounding to nearest even: the compiler's _Float16 where it has one
// (gcc; clang 14 has none on x86), else the nearest of all finite halves found by binary search
// over their exact values. Either is independent of the library's bit manipulations.
uint16_t half_bits(float f) {
#if defined(__FLT16_MAX__)
  const _Float16 h = static_cast<_Float16>(f);
  uint16_t bits;
  std::memcpy(&bits, &h, 2);
  return bits;
#else
  static const std::vector<double> halves = [] {
    std::vector<double> v;
    for (int h = 0; h <= 0x7bff; ++h) {  // every finite non-negative half, in increasing order
      const int e = h >> 10, m = h & 1023;
      v.push_back(e == 0 ? std::ldexp(m, -24) : std::ldexp(1024 + m, e - 25));
    }
    return v;
  }();
  const uint16_t sign = std::signbit(f) ? 0x8000 : 0;
  const double a = std::fabs(static_cast<double>(f));
  if (std::isnan(f)) return sign | 0x7e00;
  if (a >= 65520.0) return sign | 0x7c00;  // past halfway to 65536: infinity
  const auto it = std::lower_bound(halves.begin(), halves.end(), a);
  size_t i = static_cast<size_t>(it - halves.begin());
  if (i == halves.size()) return sign | 0x7bff;  // above 65504, nearer to it than to infinity
  if (halves[i] != a) {
    const double below = a - halves[i - 1], above = halves[i] - a;
    if (below < above || (below == above && (i - 1) % 2 == 0)) --i;  // ties to the even one
  }
  return sign | static_cast<uint16_t>(i);
#endif
}

std::vector<float> random_floats(std::mt19937& rng, size_t n, float scale) {
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

// ---- Activation converters ---------------------------------------------------------------------

// Inputs that exercise the corner cases: an all-zero block, exact ties after scaling (amax = 127
// makes the multiplier 1, so k + 0.5 must round to even), equal positive and negative maxima, tiny
// and large magnitudes.
std::vector<float> activation_inputs(std::mt19937& rng, int64_t n) {
  std::vector<float> x = random_floats(rng, static_cast<size_t>(n), 1.0f);
  for (int64_t i = 0; i < 32 && i < n; ++i) x[i] = 0.0f;
  if (n >= 64) {
    for (int64_t i = 32; i < 64; ++i) x[i] = static_cast<float>(i - 48) + 0.5f;
    x[40] = 127.0f;
  }
  if (n >= 512) {
    x[300] = 3.0f;
    x[301] = -3.0f;  // Q8_K keeps the first of equal magnitudes: m = +3
    for (int64_t i = 320; i < 352; ++i) x[i] *= 1e-30f;
    for (int64_t i = 352; i < 384; ++i) x[i] *= 1e4f;
  }
  return x;
}

std::vector<uint8_t> reference_q8_legacy(const std::vector<float>& x, bool with_sum) {
  const size_t block = with_sum ? 36 : 34;
  std::vector<uint8_t> out(x.size() / 32 * block);
  for (size_t b = 0; b < x.size() / 32; ++b) {
    float amax = 0;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[b * 32 + j]));
    const float d = amax / 127.0f;
    const float id = amax != 0 ? 127.0f / amax : 0.0f;
    const uint16_t dh = half_bits(d);
    std::memcpy(&out[b * block], &dh, 2);
    int sum = 0;
    for (int j = 0; j < 32; ++j) {
      const int q = static_cast<int>(std::nearbyint(x[b * 32 + j] * id));
      sum += q;
      out[b * block + (with_sum ? 4 : 2) + j] = static_cast<uint8_t>(static_cast<int8_t>(q));
    }
    if (with_sum) {
      const uint16_t sh = half_bits(d * static_cast<float>(sum));
      std::memcpy(&out[b * block + 2], &sh, 2);
    }
  }
  return out;
}

std::vector<uint8_t> reference_q8_k(const std::vector<float>& x) {
  std::vector<uint8_t> out(x.size() / 256 * 292, 0);
  for (size_t b = 0; b < x.size() / 256; ++b) {
    const float* xb = &x[b * 256];
    uint8_t* yb = &out[b * 292];
    float m = 0;
    for (int j = 0; j < 256; ++j) {
      if (std::fabs(xb[j]) > std::fabs(m)) m = xb[j];
    }
    if (m == 0) continue;
    const float iscale = -127.0f / m;
    int8_t q[256];
    for (int j = 0; j < 256; ++j) {
      q[j] = static_cast<int8_t>(std::min(127, static_cast<int>(std::nearbyint(iscale * xb[j]))));
    }
    std::memcpy(yb + 4, q, 256);
    for (int j = 0; j < 16; ++j) {
      int16_t s = 0;
      for (int i = 0; i < 16; ++i) s = static_cast<int16_t>(s + q[16 * j + i]);
      std::memcpy(yb + 260 + 2 * j, &s, 2);
    }
    const float d = 1.0f / iscale;
    std::memcpy(yb, &d, 4);
  }
  return out;
}

// The bfloat16 nearest to x (ties to even), found by comparing the two candidates in double.
uint16_t reference_bf16(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, 4);
  const uint32_t low = bits & 0xFFFF0000u;
  const uint32_t high = low + 0x10000u;
  float lf, hf;
  std::memcpy(&lf, &low, 4);
  std::memcpy(&hf, &high, 4);
  const double dl = std::fabs(static_cast<double>(x) - lf);
  const double dh = std::fabs(static_cast<double>(hf) - x);
  if (dl < dh || (dl == dh && ((low >> 16) & 1u) == 0)) return static_cast<uint16_t>(low >> 16);
  return static_cast<uint16_t>(high >> 16);
}

TEST(QuantDot, HalfToFloatIsExactForEveryHalf) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float got = detail::half_to_float(static_cast<uint16_t>(h));
    const float want = fp16_to_fp32(static_cast<uint16_t>(h));
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(got)) << h;
    } else {
      ASSERT_EQ(detail::float_bits(got), detail::float_bits(want)) << "half " << h;
    }
  }
}

TEST(QuantDot, ActivationConvertersAreBitExact) {
  std::mt19937 rng(7);
  for (int64_t n : {256, 512, 1536}) {
    const std::vector<float> x = activation_inputs(rng, n);
    for (DType act : {DType::kQ8_0, DType::kQ8_1, DType::kQ8_K, DType::kF16, DType::kBF16}) {
      SCOPED_TRACE(std::string(dtype_name(act)) + " n=" + std::to_string(n));
      std::vector<uint8_t> want;
      if (act == DType::kQ8_0 || act == DType::kQ8_1) {
        want = reference_q8_legacy(x, act == DType::kQ8_1);
      } else if (act == DType::kQ8_K) {
        want = reference_q8_k(x);
      } else {
        for (float v : x) {
          const uint16_t h = act == DType::kF16 ? half_bits(v) : reference_bf16(v);
          want.push_back(static_cast<uint8_t>(h & 0xFF));
          want.push_back(static_cast<uint8_t>(h >> 8));
        }
      }
      ASSERT_EQ(want.size(), *row_bytes(act, n));
      // At an odd address: the converters must not assume alignment.
      std::vector<uint8_t> got(want.size() + 3, 0xAB);
      quantize_activation_row(act, x.data(), got.data() + 3, n);
      EXPECT_EQ(0, std::memcmp(got.data() + 3, want.data(), want.size()));
      EXPECT_EQ(got[0], 0xAB);  // nothing written outside
    }
  }
}

TEST(QuantDot, RoundingActivationsToHalfMatchesTheConverter) {
  std::mt19937 rng(11);
  const std::vector<float> x = activation_inputs(rng, 1000);
  for (Isa isa : supported_isas()) {
    ForcedIsa forced(isa);
    for (DType act : {DType::kF16, DType::kBF16}) {
      std::vector<float> rounded(x.size());
      round_activation_row(act, x.data(), rounded.data(), static_cast<int64_t>(x.size()));
      for (size_t i = 0; i < x.size(); ++i) {
        const uint16_t h = act == DType::kF16 ? half_bits(x[i]) : reference_bf16(x[i]);
        const float want = act == DType::kF16 ? fp16_to_fp32(h) : bf16_to_fp32(h);
        ASSERT_EQ(detail::float_bits(rounded[i]), detail::float_bits(want))
            << isa_name(isa) << " " << dtype_name(act) << " x=" << x[i];
      }
    }
  }
}

TEST(QuantDot, NarrowingToHalfGivesTheNearestHalfsBits) {
  std::mt19937 rng(12);
  std::vector<float> x = activation_inputs(rng, 1001);  // 1001: a tail after the vectors
  x.push_back(0.0f);
  x.push_back(-0.0f);
  x.push_back(1e-7f);     // below the smallest normal half
  x.push_back(65504.0f);  // the largest half
  x.push_back(70000.0f);  // beyond it: infinity
  x.push_back(-std::numeric_limits<float>::infinity());
  for (Isa isa : supported_isas()) {
    ForcedIsa forced(isa);
    std::vector<uint16_t> got(x.size());
    narrow_to_f16(x.data(), got.data(), static_cast<int64_t>(x.size()));
    for (size_t i = 0; i < x.size(); ++i) {
      ASSERT_EQ(got[i], half_bits(x[i])) << isa_name(isa) << " x=" << x[i];
    }
  }
}

// ---- Dot kernels -------------------------------------------------------------------------------

// Byte offsets of the F16 scale fields ("d", "dmin", "m") inside a block of `type`.
std::vector<size_t> half_fields(DType type) {
  switch (type) {
    case DType::kQ8_0:
    case DType::kQ4_0:
    case DType::kQ5_0:
      return {0};
    case DType::kQ4_1:
    case DType::kQ5_1:
    case DType::kQ4_K:
    case DType::kQ5_K:
      return {0, 2};
    case DType::kQ2_K:
      return {80, 82};
    case DType::kQ3_K:
      return {108};
    case DType::kQ6_K:
      return {208};
    default:
      return {};
  }
}

// `rows` weight rows of n values: random bytes, with sane F16 scales in the scale fields (F16 and
// BF16 rows: random values of about 0.1).
std::vector<uint8_t> random_weights(std::mt19937& rng, DType type, int64_t rows, int64_t n) {
  const size_t row = *row_bytes(type, n);
  std::vector<uint8_t> w(row * static_cast<size_t>(rows));
  if (type == DType::kF16 || type == DType::kBF16) {
    const std::vector<float> v = random_floats(rng, static_cast<size_t>(rows * n), 0.1f);
    for (size_t i = 0; i < v.size(); ++i) {
      const uint16_t h = type == DType::kF16 ? fp32_to_fp16(v[i]) : fp32_to_bf16(v[i]);
      std::memcpy(&w[2 * i], &h, 2);
    }
    return w;
  }
  std::uniform_int_distribution<int> byte(0, 255);
  for (uint8_t& b : w) b = static_cast<uint8_t>(byte(rng));
  std::uniform_real_distribution<float> scale(1e-3f, 5e-2f);
  std::bernoulli_distribution negative(0.2);
  const DTypeTraits traits = dtype_traits(type);
  for (size_t blk = 0; blk < w.size() / traits.type_size; ++blk) {
    for (size_t off : half_fields(type)) {
      const float s = negative(rng) ? -scale(rng) : scale(rng);
      const uint16_t h = fp32_to_fp16(s);
      std::memcpy(&w[blk * traits.type_size + off], &h, 2);
    }
  }
  return w;
}

// The activation row as the kernels see it, dequantized: values and, for Q8_1, the per-block
// d * sum(q) the _1 kernels use for the minimum term.
struct DequantizedActivation {
  std::vector<double> values;
  std::vector<double> block_sums;  // Q8_1 only: the stored s
};

DequantizedActivation dequantize_activation(DType act, const uint8_t* a, int64_t n) {
  DequantizedActivation out;
  out.values.resize(static_cast<size_t>(n));
  if (act == DType::kF16 || act == DType::kBF16) {
    for (int64_t i = 0; i < n; ++i) {
      uint16_t h;
      std::memcpy(&h, a + 2 * i, 2);
      out.values[i] = act == DType::kF16 ? fp16_to_fp32(h) : bf16_to_fp32(h);
    }
  } else if (act == DType::kQ8_K) {
    for (int64_t b = 0; b < n / 256; ++b) {
      float d;
      std::memcpy(&d, a + b * 292, 4);
      for (int i = 0; i < 256; ++i) {
        out.values[b * 256 + i] = static_cast<double>(d) * static_cast<int8_t>(a[b * 292 + 4 + i]);
      }
    }
  } else {
    const bool q8_1 = act == DType::kQ8_1;
    const size_t block = q8_1 ? 36 : 34;
    for (int64_t b = 0; b < n / 32; ++b) {
      uint16_t dh, sh;
      std::memcpy(&dh, a + b * block, 2);
      std::memcpy(&sh, a + b * block + 2, 2);
      for (int i = 0; i < 32; ++i) {
        out.values[b * 32 + i] = static_cast<double>(fp16_to_fp32(dh)) *
                                 static_cast<int8_t>(a[b * block + (q8_1 ? 4 : 2) + i]);
      }
      if (q8_1) out.block_sums.push_back(fp16_to_fp32(sh));
    }
  }
  return out;
}

// Reference dot product in double, and the scale the error is measured against (the sum of the
// magnitudes of what is added up).
struct Reference {
  double value = 0;
  double magnitude = 0;
};

Reference reference_dot(DType type, const uint8_t* w, const DequantizedActivation& a, int64_t n) {
  std::vector<float> wf(static_cast<size_t>(n));
  EXPECT_TRUE(dequantize_row(type, w, wf.data(), n).ok());
  Reference r;
  if (type == DType::kQ4_1 || type == DType::kQ5_1) {
    // (w - m) * a over the block, plus m * s with the stored (F16-rounded) s, as llama.cpp.
    for (int64_t b = 0; b < n / 32; ++b) {
      uint16_t mh;
      std::memcpy(&mh, w + b * (type == DType::kQ4_1 ? 20 : 24) + 2, 2);
      const double m = fp16_to_fp32(mh);
      for (int i = 0; i < 32; ++i) {
        const double p = (wf[b * 32 + i] - m) * a.values[b * 32 + i];
        r.value += p;
        r.magnitude += std::fabs(p);
      }
      r.value += m * a.block_sums[b];
      r.magnitude += std::fabs(m * a.block_sums[b]);
    }
    return r;
  }
  for (int64_t i = 0; i < n; ++i) {
    const double p = static_cast<double>(wf[i]) * a.values[i];
    r.value += p;
    r.magnitude += std::fabs(p);
  }
  return r;
}

// Prepared activations: `rows` rows of n values from x, in groups, the whole buffer at an odd
// address (`offset` bytes into the returned vector).
struct Prepared {
  std::vector<uint8_t> bytes;
  size_t offset = 3;
  ActivationLayout layout;
  const uint8_t* data() const { return bytes.data() + offset; }
};

Prepared prepare(DType weight, const std::vector<float>& x, int64_t n, int64_t rows) {
  Prepared p;
  p.layout = activation_layout(weight, n);
  const int64_t g = p.layout.group_rows;
  const int64_t groups = (rows + g - 1) / g;
  p.bytes.assign(p.offset + p.layout.group_bytes * static_cast<size_t>(groups), 0xEE);
  for (int64_t k = 0; k < groups; ++k) {
    const int count = static_cast<int>(std::min(g, rows - k * g));
    prepare_activation_group(weight, x.data() + k * g * n, n, count,
                             p.bytes.data() + p.offset + k * p.layout.group_bytes);
  }
  return p;
}

TEST(QuantDot, PreparedGroupsHoldWhatTheConverterWritesOnEveryIsa) {
  std::mt19937 rng(21);
  const int64_t n = 768;
  std::vector<float> x = activation_inputs(rng, 6 * n);  // a full group and half of one
  x[n + 700] = -x[n + 700] * 1e3f;                       // one outlier block
  for (Isa isa : supported_isas()) {
    ForcedIsa forced(isa);
    SCOPED_TRACE(isa_name(isa));
    for (DType weight : {DType::kQ8_0, DType::kQ4_1}) {
      const DType act = activation_type(weight);
      const bool q8_1 = act == DType::kQ8_1;
      const Prepared p = prepare(weight, x, n, 6);
      ASSERT_EQ(p.layout.group_rows, 4);
      const size_t block = q8_1 ? 160 : 144;
      for (int64_t r = 0; r < 8; ++r) {
        std::vector<uint8_t> row(*row_bytes(act, n), 0);
        if (r < 6) quantize_activation_row(act, x.data() + r * n, row.data(), n);  // else zeros
        const uint8_t* group = p.data() + (r / 4) * p.layout.group_bytes;
        for (int64_t b = 0; b < n / 32; ++b) {
          const uint8_t* gb = group + b * block;
          const uint8_t* rb = row.data() + b * (q8_1 ? 36 : 34);
          float d;
          uint16_t dh;
          std::memcpy(&d, gb + 4 * (r % 4), 4);
          std::memcpy(&dh, rb, 2);
          ASSERT_EQ(d, fp16_to_fp32(dh)) << dtype_name(act) << " row " << r << " block " << b;
          if (q8_1) {
            float sum;
            std::memcpy(&sum, gb + 16 + 4 * (r % 4), 4);
            std::memcpy(&dh, rb + 2, 2);
            ASSERT_EQ(sum, fp16_to_fp32(dh)) << "row " << r << " block " << b;
          }
          ASSERT_EQ(0, std::memcmp(gb + (q8_1 ? 32 : 16) + 32 * (r % 4), rb + (q8_1 ? 4 : 2), 32))
              << dtype_name(act) << " row " << r << " block " << b;
        }
      }
    }
    // The k-quants' groups are single Q8_K rows.
    for (int64_t r = 0; r < 6; ++r) {
      std::vector<uint8_t> want(*row_bytes(DType::kQ8_K, n));
      quantize_activation_row(DType::kQ8_K, x.data() + r * n, want.data(), n);
      const ActivationLayout layout = activation_layout(DType::kQ4_K, n);
      ASSERT_EQ(layout.group_rows, 1);
      ASSERT_EQ(layout.group_bytes, want.size());
      std::vector<uint8_t> got(want.size() + 1);
      prepare_activation_group(DType::kQ4_K, x.data() + r * n, n, 1, got.data() + 1);
      ASSERT_EQ(0, std::memcmp(got.data() + 1, want.data(), want.size())) << "Q8_K row " << r;
    }
  }
}

TEST(QuantDot, EveryKernelMatchesTheReferenceOnEveryIsa) {
  std::mt19937 rng(1234);
  const std::vector<Isa> isas = supported_isas();
  ASSERT_FALSE(isas.empty());
  constexpr int64_t kRows = 7;  // weight rows
  constexpr int64_t kActs = 7;  // activation rows: a full group of four and a partial one
  for (DType type : kDotTypes) {
    const int64_t block = dtype_traits(type).block_size;
    const DType act = activation_type(type);
    const bool exact = block > 1;  // quantized types: bit-identical on every level
    std::vector<int64_t> lengths;
    if (block == 1) {
      lengths = {1, 7, 16, 37, 64, 172, 384, 1000};
    } else if (block == 32) {
      // 1, 2, 3, 7, 12, 48 blocks; 512 and 513: the longest row whose decode kernel keeps its
      // prepared activation on the stack, and the first that falls back (quant_dot_simd.h).
      lengths = {32, 64, 96, 224, 384, 1536, 16384, 16416};
    } else {
      lengths = {256, 512, 768, 1536};
    }
    for (int64_t n : lengths) {
      const size_t w_row = *row_bytes(type, n);
      const std::vector<uint8_t> weights = random_weights(rng, type, kRows, n);
      // Weight rows at odd addresses, 5 bytes of padding between them.
      const size_t w_stride = w_row + 5;
      std::vector<uint8_t> wbuf(1 + w_stride * kRows);
      for (int64_t i = 0; i < kRows; ++i) {
        std::memcpy(wbuf.data() + 1 + i * w_stride, weights.data() + i * w_row, w_row);
      }
      // Activation rows of very different scales.
      std::vector<float> x;
      std::vector<DequantizedActivation> deq;
      for (int64_t j = 0; j < kActs; ++j) {
        const std::vector<float> row = random_floats(
            rng, static_cast<size_t>(n), std::pow(10.0f, static_cast<float>(j % 4 - 2)));
        x.insert(x.end(), row.begin(), row.end());
        std::vector<uint8_t> q(*row_bytes(act, n));
        quantize_activation_row(act, row.data(), q.data(), n);
        deq.push_back(dequantize_activation(act, q.data(), n));
      }
      const Prepared acts = prepare(type, x, n, kActs);
      std::vector<float> scalar;
      for (Isa isa : isas) {
        SCOPED_TRACE(std::string(dtype_name(type)) + " n=" + std::to_string(n) + " " +
                     isa_name(isa));
        const DotTileFn tile = dot_tile_kernel(type, isa);
        ASSERT_NE(tile, nullptr);
        // The whole tile at once.
        std::vector<float> all(kRows * kActs, -1.0f);
        tile(n, wbuf.data() + 1, w_stride, kRows, acts.data(), acts.layout.group_bytes, 0, kActs,
             all.data(), kRows);
        for (int64_t j = 0; j < kActs; ++j) {
          for (int64_t i = 0; i < kRows; ++i) {
            const Reference ref = reference_dot(type, weights.data() + i * w_row, deq[j], n);
            EXPECT_LE(std::fabs(all[j * kRows + i] - ref.value), 1e-5 * ref.magnitude + 1e-30)
                << "weight row " << i << ", activation row " << j << ": got " << all[j * kRows + i]
                << ", want " << ref.value;
          }
        }
        // Every sub-tile gives the same numbers bit for bit: an output does not depend on the
        // rows it is computed with — except that one activation row of the 32-value block types
        // (decoding) goes through a kernel that keeps lane-wise float sums, which is within
        // float rounding of the reference instead.
        for (int64_t a0 = 0; a0 < kActs; ++a0) {
          for (int64_t n_act : {int64_t{1}, int64_t{2}, kActs - a0}) {
            if (a0 + n_act > kActs) continue;
            for (int64_t i0 : {0, 1, 3}) {
              const int64_t n_w = kRows - i0;
              std::vector<float> part(static_cast<size_t>(n_w * n_act), -1.0f);
              tile(n, wbuf.data() + 1 + i0 * w_stride, w_stride, n_w, acts.data(),
                   acts.layout.group_bytes, a0, n_act, part.data(), static_cast<size_t>(n_w));
              const bool decode_kernel = n_act == 1 && detail::is_block32_type(type);
              for (int64_t j = 0; j < n_act; ++j) {
                for (int64_t i = 0; i < n_w; ++i) {
                  if (decode_kernel) {
                    const Reference ref = reference_dot(type, weights.data() + (i0 + i) * w_row,
                                                        deq[a0 + j], n);
                    ASSERT_LE(std::fabs(part[j * n_w + i] - ref.value), 1e-5 * ref.magnitude + 1e-30)
                        << "decode kernel at row " << i0 + i << ", activation " << a0;
                    continue;
                  }
                  ASSERT_EQ(detail::float_bits(part[j * n_w + i]),
                            detail::float_bits(all[(a0 + j) * kRows + i0 + i]))
                      << "tile at row " << i0 << ", activation " << a0 << " x " << n_act;
                }
              }
            }
          }
        }
        if (isa == Isa::kScalar) {
          scalar = all;
        } else if (exact) {
          for (size_t k = 0; k < all.size(); ++k) {
            ASSERT_EQ(detail::float_bits(all[k]), detail::float_bits(scalar[k]))
                << "differs from the scalar kernel at " << k;
          }
        }
      }
    }
  }
}

TEST(QuantDot, WideningRowsIsExact) {
  std::mt19937 rng(5);
  for (DType type : {DType::kF16, DType::kBF16}) {
    for (int64_t n : {1, 15, 16, 17, 172, 384}) {
      const std::vector<uint8_t> w = random_weights(rng, type, 1, n);
      std::vector<uint8_t> buf(w.size() + 1);
      std::memcpy(buf.data() + 1, w.data(), w.size());
      std::vector<float> want(static_cast<size_t>(n));
      ASSERT_TRUE(dequantize_row(type, w.data(), want.data(), n).ok());
      for (Isa isa : supported_isas()) {
        std::vector<float> got(static_cast<size_t>(n));
        widen_row_kernel(type, isa)(buf.data() + 1, got.data(), n);
        for (int64_t i = 0; i < n; ++i) {
          ASSERT_EQ(detail::float_bits(got[i]), detail::float_bits(want[i]))
              << dtype_name(type) << " " << isa_name(isa) << " i=" << i;
        }
      }
    }
  }
}

// ---- linear() ----------------------------------------------------------------------------------

TEST(QuantDot, LinearMatchesTheReferenceForEveryTypeIsaAndBatch) {
  std::mt19937 rng(99);
  ThreadPool pool(2);
  MatmulScratch scratch;
  for (DType type : kDotTypes) {
    const int64_t in = dtype_traits(type).block_size == 256 ? 512 : 96;
    const int64_t out = 37;  // odd: blocks of rows do not divide it
    const size_t row = *row_bytes(type, in);
    const std::vector<uint8_t> weights = random_weights(rng, type, out, in);
    std::vector<uint8_t> wbuf(weights.size() + 3);
    std::memcpy(wbuf.data() + 3, weights.data(), weights.size());  // rows at odd addresses
    Linear l;
    l.weight.name = "w";
    l.weight.dtype = type;
    l.weight.n_dims = 2;
    l.weight.ne = {in, out, 1, 1};
    l.weight.data = wbuf.data() + 3;
    l.weight.n_bytes = weights.size();
    const std::vector<float> bias = random_floats(rng, static_cast<size_t>(out), 0.1f);
    l.bias = bias.data();
    for (int64_t n : {1, 3, 5, 17, 70}) {
      const std::vector<float> x = random_floats(rng, static_cast<size_t>(n * in), 1.0f);
      // What the kernels see: F16/BF16 activations rounded, the others quantized.
      const DType act = activation_type(type);
      std::vector<DequantizedActivation> deq;
      for (int64_t r = 0; r < n; ++r) {
        std::vector<uint8_t> a(*row_bytes(act, in));
        quantize_activation_row(act, x.data() + r * in, a.data(), in);
        deq.push_back(dequantize_activation(act, a.data(), in));
      }
      for (Isa isa : supported_isas()) {
        SCOPED_TRACE(std::string(dtype_name(type)) + " n=" + std::to_string(n) + " " +
                     isa_name(isa));
        ForcedIsa forced(isa);
        ASSERT_TRUE(forced.ok);
        std::vector<float> y(static_cast<size_t>(n * out), -1.0f);
        ASSERT_TRUE(linear(pool, x.data(), n, l, y.data(), scratch).ok());
        for (int64_t r = 0; r < n; ++r) {
          for (int64_t o = 0; o < out; ++o) {
            const Reference ref = reference_dot(type, weights.data() + o * row, deq[r], in);
            EXPECT_LE(std::fabs(y[r * out + o] - (ref.value + bias[o])),
                      1e-5 * (ref.magnitude + std::fabs(bias[o])) + 1e-30)
                << "row " << r << " output " << o;
          }
        }
      }
    }
  }
}

TEST(QuantDot, LinearGivesARowTheSameOutputInAnyBatch) {
  // Bit for bit, except the single-row kernel of the 32-value block types (within rounding).
  std::mt19937 rng(17);
  ThreadPool pool(2);
  MatmulScratch scratch;
  for (DType type : {DType::kQ8_0, DType::kQ4_0, DType::kQ5_1, DType::kQ4_K, DType::kQ6_K}) {
    const int64_t in = 512, out = 45, n = 23;
    const std::vector<uint8_t> weights = random_weights(rng, type, out, in);
    Linear l;
    l.weight.name = "w";
    l.weight.dtype = type;
    l.weight.n_dims = 2;
    l.weight.ne = {in, out, 1, 1};
    l.weight.data = weights.data();
    l.weight.n_bytes = weights.size();
    const std::vector<float> x = random_floats(rng, static_cast<size_t>(n * in), 1.0f);
    std::vector<float> batch(static_cast<size_t>(n * out));
    ASSERT_TRUE(linear(pool, x.data(), n, l, batch.data(), scratch).ok());
    for (int64_t r : {0, 5, 22}) {
      std::vector<float> one(static_cast<size_t>(out));
      ASSERT_TRUE(linear(pool, x.data() + r * in, 1, l, one.data(), scratch).ok());
      for (int64_t o = 0; o < out; ++o) {
        if (detail::is_block32_type(type)) {
          // Decoding one row of a 32-value block type sums in another order (quant_dot_simd.h).
          ASSERT_NEAR(one[o], batch[r * out + o], 1e-5 * (std::fabs(batch[r * out + o]) + 1.0f))
              << dtype_name(type) << " row " << r << " output " << o;
          continue;
        }
        ASSERT_EQ(detail::float_bits(one[o]), detail::float_bits(batch[r * out + o]))
            << dtype_name(type) << " row " << r << " output " << o;
      }
    }
  }
}

// Several matrices of one input at once (q/k/v, gate/up): bit for bit what one linear() each
// gives — a decoded row's matrices in one pass whatever their types (F32 and quantized ones
// mixed too), batches one matrix at a time, and more matrices than one pass takes — with 1, 2
// and 3 threads (the cut between the threads' runs falls inside a matrix and on a matrix's edge).
TEST(QuantDot, LinearManyEqualsOneLinearEach) {
  std::mt19937 rng(23);
  MatmulScratch scratch;
  const int64_t in = 512;
  struct Matrix {
    std::vector<uint8_t> weights;
    std::vector<float> bias;
    Linear l;
  };
  const auto make = [&](DType type, int64_t out, bool with_bias) {
    Matrix m;
    m.weights = random_weights(rng, type, out, in);
    m.l.weight.name = "w";
    m.l.weight.dtype = type;
    m.l.weight.n_dims = 2;
    m.l.weight.ne = {in, out, 1, 1};
    m.l.weight.data = m.weights.data();
    m.l.weight.n_bytes = m.weights.size();
    if (with_bias) {
      m.bias = random_floats(rng, static_cast<size_t>(out), 0.1f);
      m.l.bias = m.bias.data();
    }
    return m;
  };
  const std::vector<std::vector<std::pair<DType, int64_t>>> sets = {
      {{DType::kQ8_0, 40}, {DType::kQ8_0, 13}, {DType::kQ8_0, 13}},  // q, k, v of one type
      {{DType::kQ4_K, 31}, {DType::kQ4_K, 31}},                      // gate, up
      {{DType::kQ5_0, 24}, {DType::kQ6_K, 8}, {DType::kQ5_0, 8}},    // a Q4_K_M mix
      {{DType::kF16, 9}, {DType::kF16, 5}},
      {{DType::kF32, 9}, {DType::kF32, 5}},
      {{DType::kQ8_0, 12}, {DType::kF32, 7}, {DType::kQ5_0, 9}, {DType::kQ8_0, 4}},
      {{DType::kQ4_0, 3},
       {DType::kQ4_0, 5},
       {DType::kQ4_0, 2},
       {DType::kQ4_0, 4},  // nine:
       {DType::kQ4_0, 3},
       {DType::kQ4_0, 6},
       {DType::kQ4_0, 1},
       {DType::kQ4_0, 2},   // more than
       {DType::kQ4_0, 7}},  // one pass
  };
  static_assert(kMaxDecodeMatrices < 9);
  for (const auto& set : sets) {
    std::vector<Matrix> ms;
    for (size_t i = 0; i < set.size(); ++i) ms.push_back(make(set[i].first, set[i].second, i != 1));
    for (int threads : {1, 2, 3}) {
      ThreadPool pool(threads);
      for (int64_t n : {1, 3}) {
        SCOPED_TRACE(std::string(dtype_name(set[0].first)) + " threads " + std::to_string(threads) +
                     " n " + std::to_string(n));
        const std::vector<float> x = random_floats(rng, static_cast<size_t>(n * in), 1.0f);
        std::vector<std::vector<float>> want, got;
        std::vector<LinearOutput> outs;
        for (const Matrix& m : ms) {
          want.emplace_back(static_cast<size_t>(n * m.l.out()));
          got.emplace_back(static_cast<size_t>(n * m.l.out()), -7.0f);
          ASSERT_TRUE(linear(pool, x.data(), n, m.l, want.back().data(), scratch).ok());
        }
        for (size_t i = 0; i < ms.size(); ++i) outs.push_back({&ms[i].l, got[i].data()});
        ASSERT_TRUE(linear_many(pool, x.data(), n, outs, scratch).ok());
        for (size_t i = 0; i < ms.size(); ++i) {
          for (size_t k = 0; k < want[i].size(); ++k) {
            ASSERT_EQ(detail::float_bits(got[i][k]), detail::float_bits(want[i][k]))
                << "matrix " << i << " value " << k;
          }
        }
      }
    }
  }
}

// A matrix whose rows do not fit its type is an error in linear_many as in linear.
TEST(QuantDot, LinearManyRejectsRowsThatDoNotFitTheType) {
  ThreadPool pool(2);
  MatmulScratch scratch;
  std::vector<uint8_t> bytes(4096);
  Linear good, bad;
  for (Linear* l : {&good, &bad}) {
    l->weight.name = "w";
    l->weight.dtype = DType::kQ8_0;
    l->weight.n_dims = 2;
    l->weight.data = bytes.data();
  }
  good.weight.ne = {64, 4, 1, 1};
  good.weight.n_bytes = 4 * 68;
  bad.weight.ne = {64, 4, 1, 1};
  bad.weight.n_bytes = 4 * 60;  // rows shorter than two Q8_0 blocks (68 bytes)
  std::vector<float> x(64, 1.0f), y0(4), y1(4);
  const LinearOutput outs[] = {{&good, y0.data()}, {&bad, y1.data()}};
  const Status st = linear_many(pool, x.data(), 1, outs, scratch);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("rows do not match its type"), std::string::npos) << st.message();
}

TEST(QuantDot, LinearTakesMisalignedF32WeightsThroughTiles) {
  std::mt19937 rng(8);
  ThreadPool pool(2);
  MatmulScratch scratch;
  const int64_t in = 40, out = 21, n = 5;
  const std::vector<float> w = random_floats(rng, static_cast<size_t>(in * out), 0.1f);
  std::vector<uint8_t> buf(w.size() * 4 + 2);
  std::memcpy(buf.data() + 2, w.data(), w.size() * 4);  // not float-aligned
  Linear l;
  l.weight.name = "w";
  l.weight.dtype = DType::kF32;
  l.weight.n_dims = 2;
  l.weight.ne = {in, out, 1, 1};
  l.weight.data = buf.data() + 2;
  l.weight.n_bytes = w.size() * 4;
  const std::vector<float> x = random_floats(rng, static_cast<size_t>(n * in), 1.0f);
  std::vector<float> y(static_cast<size_t>(n * out));
  ASSERT_TRUE(linear(pool, x.data(), n, l, y.data(), scratch).ok());
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t o = 0; o < out; ++o) {
      double want = 0, magnitude = 0;
      for (int64_t k = 0; k < in; ++k) {
        want += static_cast<double>(x[r * in + k]) * w[o * in + k];
        magnitude += std::fabs(static_cast<double>(x[r * in + k]) * w[o * in + k]);
      }
      EXPECT_NEAR(y[r * out + o], want, 1e-5 * magnitude) << r << " " << o;
    }
  }
}

TEST(QuantDot, LinearRejectsRowsThatDoNotFitTheType) {
  ThreadPool pool(1);
  MatmulScratch scratch;
  std::vector<uint8_t> w(34 * 2);
  Linear l;
  l.weight.name = "w";
  l.weight.dtype = DType::kQ8_0;
  l.weight.n_dims = 2;
  l.weight.ne = {48, 1, 1, 1};  // not a multiple of 32
  l.weight.data = w.data();
  l.weight.n_bytes = w.size();
  std::vector<float> x(48), y(1);
  EXPECT_FALSE(linear(pool, x.data(), 1, l, y.data(), scratch).ok());
  l.weight.dtype = DType::kI8;
  l.weight.ne = {32, 1, 1, 1};
  EXPECT_FALSE(linear(pool, x.data(), 1, l, y.data(), scratch).ok());
}

// ---- Throughput (opt-in: RAGKIT_QUANT_BENCH=1)
// ----------------------------------------------------

}  // namespace
}  // namespace ragkit::embed::ops
