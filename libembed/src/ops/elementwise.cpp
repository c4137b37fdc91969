#include "ops/elementwise.h"

#include <cmath>
#include <cstdint>
#include <cstring>

#define RAGKIT_MULTIVERSION __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))

namespace ragkit::embed::ops {

namespace {

// exp(x) by range reduction x = k ln2 + r, |r| <= ln2/2, and a degree-6 polynomial for e^r;
// 2^k is built in the exponent bits. Inputs are clamped to the float range, so no branches.
// Plain comparisons and the 1.5 * 2^23 rounding trick instead of fmin/fmax/nearbyint: those are
// library calls that stop the loops from vectorising. The same trick gives k as an integer: the
// rounded sum's low mantissa bits ARE k (plus the bits of 1.5 * 2^23), read without a float-to-int
// conversion, which would be undefined for a NaN (the clamps let NaN through, so exp(NaN) = NaN).
inline float exp_inline(float x) {
  x = x < -87.3f ? -87.3f : x;
  x = x > 88.7f ? 88.7f : x;
  constexpr float kRound = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  constexpr int32_t kRoundBits = 0x4B400000;
  const float rounded = x * 1.44269504088896341f + kRound;
  const float k = rounded - kRound;
  // Cody-Waite: x - k ln2 with ln2 = hi + lo; k hi first, where fma cancels it exactly.
  const float r = std::fma(k, -1.428606765330187045e-6f, std::fma(k, -0.693145751953125f, x));
  float p = 1.0f / 720;
  p = std::fma(p, r, 1.0f / 120);
  p = std::fma(p, r, 1.0f / 24);
  p = std::fma(p, r, 1.0f / 6);
  p = std::fma(p, r, 0.5f);
  p = std::fma(p, r, 1.0f);
  p = std::fma(p, r, 1.0f);
  int32_t k_bits;
  std::memcpy(&k_bits, &rounded, 4);
  const int32_t bits = static_cast<int32_t>(static_cast<uint32_t>(k_bits - kRoundBits + 127) << 23);
  float scale;
  std::memcpy(&scale, &bits, 4);
  return p * scale;
}

// erf(x) by Abramowitz & Stegun 7.1.26 refined: |error| < 1.5e-7, odd-symmetric.
inline float erf_inline(float x) {
  const float a = std::fabs(x);
  const float t = 1.0f / std::fma(0.3275911f, a, 1.0f);
  float p = 1.061405429f;
  p = std::fma(p, t, -1.453152027f);
  p = std::fma(p, t, 1.421413741f);
  p = std::fma(p, t, -0.284496736f);
  p = std::fma(p, t, 0.254829592f);
  const float y = 1.0f - p * t * exp_inline(-a * a);
  return std::copysign(y, x);
}

// Reductions in 16 independent lanes: without -ffast-math the compiler may not reorder a float
// sum, so a plain loop runs one add at a time. Lanes make the order explicit and vectorisable.
inline float sum_lanes(const float* x, int64_t n) {
  float acc[16] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    for (int j = 0; j < 16; ++j) acc[j] += x[i + j];
  }
  float s = 0;
  for (; i < n; ++i) s += x[i];
  for (int j = 0; j < 16; ++j) s += acc[j];
  return s;
}

inline float sum_sq_dev_lanes(const float* x, int64_t n, float mean) {
  float acc[16] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    for (int j = 0; j < 16; ++j) {
      const float d = x[i + j] - mean;
      acc[j] += d * d;
    }
  }
  float s = 0;
  for (; i < n; ++i) s += (x[i] - mean) * (x[i] - mean);
  for (int j = 0; j < 16; ++j) s += acc[j];
  return s;
}

// The maximum in 16 lanes of a GCC vector: written as an array of 16 like sum_lanes, GCC 12 left
// the x86-64-v4 clone with sixteen scalar vmaxss per 16 values (a tenth of a decoded token's
// attention, which takes the maximum of every score). Lane for lane the same comparisons, so the
// same result, NaNs included.
inline float max_lanes(const float* x, int64_t n) {
  typedef float Lanes __attribute__((vector_size(64)));
  Lanes acc = {};
  acc += x[0];  // every lane
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    Lanes v;
    std::memcpy(&v, x + i, sizeof v);
    acc = v > acc ? v : acc;
  }
  float m = x[0];
  for (; i < n; ++i) m = x[i] > m ? x[i] : m;
  for (int j = 0; j < 16; ++j) m = acc[j] > m ? acc[j] : m;
  return m;
}

}  // namespace

float fast_exp(float x) { return exp_inline(x); }
float fast_erf(float x) { return erf_inline(x); }

RAGKIT_MULTIVERSION
void layer_norm(const float* x, float* y, int64_t n, const float* w, const float* b, float eps) {
  const float mean = sum_lanes(x, n) / static_cast<float>(n);
  const float var = sum_sq_dev_lanes(x, n, mean);
  const float inv = 1.0f / std::sqrt(var / static_cast<float>(n) + eps);
  if (b != nullptr) {
    for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - mean) * inv * w[i] + b[i];
  } else {
    for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - mean) * inv * w[i];
  }
}

RAGKIT_MULTIVERSION
void rms_norm(const float* x, float* y, int64_t n, const float* w, float eps) {
  const float ss = sum_sq_dev_lanes(x, n, 0.0f);
  const float inv = 1.0f / std::sqrt(ss / static_cast<float>(n) + eps);
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * inv * w[i];
}

RAGKIT_MULTIVERSION
void gelu_erf(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    x[i] = 0.5f * v * (1.0f + erf_inline(v * 0.70710678118654752f));
  }
}

RAGKIT_MULTIVERSION
void gelu_tanh(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    const float u = 0.7978845608028654f * (v + 0.044715f * v * v * v);
    // tanh(u) = 1 - 2 / (exp(2u) + 1), saturating cleanly at both ends.
    const float t = 1.0f - 2.0f / (exp_inline(2.0f * u) + 1.0f);
    x[i] = 0.5f * v * (1.0f + t);
  }
}

RAGKIT_MULTIVERSION
void silu(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = x[i] / (1.0f + exp_inline(-x[i]));
}

RAGKIT_MULTIVERSION
void mul(float* a, const float* b, int64_t n) {
  for (int64_t i = 0; i < n; ++i) a[i] *= b[i];
}

RAGKIT_MULTIVERSION
void add(float* a, const float* b, int64_t n) {
  for (int64_t i = 0; i < n; ++i) a[i] += b[i];
}

RAGKIT_MULTIVERSION
void scale(float* x, float s, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] *= s;
}

RAGKIT_MULTIVERSION
float exp_minus_max(float* x, int64_t n, float* max) {
  const float mx = max_lanes(x, n);
  for (int64_t i = 0; i < n; ++i) x[i] = exp_inline(x[i] - mx);
  *max = mx;
  return sum_lanes(x, n);
}

RAGKIT_MULTIVERSION
void softmax(float* x, int64_t n) {
  float mx;
  const float inv = 1.0f / exp_minus_max(x, n, &mx);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

}  // namespace ragkit::embed::ops
