#include "store/int8_rows.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "store/horizontal_sum.h"

namespace ragkit::retrieval::store {
namespace {

float dot_int8_scalar(const float* q, const int8_t* c, size_t d) {
  float acc[8] = {};
  size_t i = 0;
  for (; i + 8 <= d; i += 8) {
    for (int j = 0; j < 8; ++j) acc[j] += q[i + j] * static_cast<float>(c[i + j]);
  }
  float s = 0;
  for (; i < d; ++i) s += q[i] * static_cast<float>(c[i]);
  for (int j = 0; j < 8; ++j) s += acc[j];
  return s;
}

__attribute__((target("avx2,fma"))) float dot_int8_avx2(const float* q, const int8_t* c,
                                                        size_t d) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= d; i += 16) {
    const __m128i codes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(c + i));
    const __m256 lo = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(codes));
    const __m256 hi = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(codes, 8)));
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), lo, s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), hi, s1);
  }
  float t = hsum_avx2(_mm256_add_ps(s0, s1));
  for (; i < d; ++i) t += q[i] * static_cast<float>(c[i]);
  return t;
}

// 16 codes widened to floats. The zero-masked forms: GCC 12's plain ones start from an
// "undefined" register and warn that it may be used uninitialised.
__attribute__((target("avx512f"))) inline __m512 widen_codes(__m128i codes) {
  return _mm512_maskz_cvtepi32_ps(0xFFFF, _mm512_maskz_cvtepi8_epi32(0xFFFF, codes));
}

__attribute__((target("avx512f"))) float dot_int8_avx512(const float* q, const int8_t* c,
                                                         size_t d) {
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= d; i += 32) {
    const __m128i c0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(c + i));
    const __m128i c1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(c + i + 16));
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), widen_codes(c0), s0);
    s1 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i + 16), widen_codes(c1), s1);
  }
  if (i + 16 <= d) {
    const __m128i c0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(c + i));
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), widen_codes(c0), s0);
    i += 16;
  }
  float t = hsum_avx512(_mm512_add_ps(s0, s1));
  for (; i < d; ++i) t += q[i] * static_cast<float>(c[i]);
  return t;
}

using DotInt8Fn = float (*)(const float*, const int8_t*, size_t);

DotInt8Fn dot_int8_for(SimdIsa isa) {
  switch (isa) {
    case SimdIsa::kAvx512: return dot_int8_avx512;
    case SimdIsa::kAvx2: return dot_int8_avx2;
    case SimdIsa::kScalar: break;
  }
  return dot_int8_scalar;
}

const DotInt8Fn kDotInt8 = dot_int8_for(best_simd_isa());

}  // namespace

float dot_int8(const float* q, const int8_t* codes, size_t d) { return kDotInt8(q, codes, d); }

bool dot_int8_with(SimdIsa isa, const float* q, const int8_t* codes, size_t d, float* out) {
  if (!simd_isa_supported(isa)) return false;
  *out = dot_int8_for(isa)(q, codes, d);
  return true;
}

void Int8Rows::append(const float* rows, size_t n) {
  const size_t start = data_.size();
  data_.resize(start + n * stride_);
  for (size_t r = 0; r < n; ++r) {
    const float* x = rows + r * dimension_;
    int8_t* out = data_.data() + start + r * stride_;
    float largest = 0;
    for (size_t j = 0; j < dimension_; ++j) largest = std::max(largest, std::fabs(x[j]));
    const float scale = largest / 127.0f;
    const float inverse = scale > 0 ? 1.0f / scale : 0.0f;
    for (size_t j = 0; j < dimension_; ++j) {
      const float code = std::nearbyint(x[j] * inverse);
      out[j] = static_cast<int8_t>(std::clamp(code, -127.0f, 127.0f));
    }
    std::memcpy(out + dimension_, &scale, sizeof(float));
  }
  huge_pages_.follow(data_);
}

void Int8Rows::reserve(size_t rows) {
  data_.reserve(rows * stride_);
  huge_pages_.follow(data_);
}

float Int8Rows::inner_product(const float* q, size_t row) const {
  const int8_t* codes = data_.data() + row * stride_;
  float scale;
  std::memcpy(&scale, codes + dimension_, sizeof(float));
  return scale * dot_int8(q, codes, dimension_);
}

}  // namespace ragkit::retrieval::store
