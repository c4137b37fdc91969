#include "store/int8_rows.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "ragkit/common/simd_isa.h"
#include "store/horizontal_sum.h"

namespace ragkit::retrieval::store {
namespace {

int32_t dot_codes_scalar(const int8_t* a, const int8_t* b, size_t d) {
  int32_t sum = 0;
  for (size_t i = 0; i < d; ++i) sum += int32_t{a[i]} * int32_t{b[i]};
  return sum;
}

// Products of signed bytes through the unsigned-by-signed multiply: |a| * (b with a's sign).
// Codes are never -128, so |a| fits and the pairs maddubs adds stay below 2 * 127 * 127.
__attribute__((target("avx2"))) int32_t dot_codes_avx2(const int8_t* a, const int8_t* b, size_t d) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i acc = _mm256_setzero_si256();
  size_t i = 0;
  for (; i + 32 <= d; i += 32) {
    const __m256i va = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + i));
    const __m256i vb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + i));
    const __m256i pairs = _mm256_maddubs_epi16(_mm256_abs_epi8(va), _mm256_sign_epi8(vb, va));
    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, ones));
  }
  return hsum_epi32_avx2(acc) + dot_codes_scalar(a + i, b + i, d - i);
}

// The bytes of a and b from i on, at most 64: a mask for the loads of a vector's tail.
inline __mmask64 tail_mask(size_t left) {
  return left >= 64 ? ~__mmask64{0} : (__mmask64{1} << left) - 1;
}

// As the AVX2 kernel, 64 bytes at a time; AVX-512 has no sign instruction, so b is negated under
// a mask of a's negative bytes.
__attribute__((target("avx512f,avx512bw"))) int32_t dot_codes_avx512bw(const int8_t* a,
                                                                       const int8_t* b, size_t d) {
  const __m512i ones = _mm512_set1_epi16(1);
  const __m512i zero = _mm512_setzero_si512();
  __m512i acc = _mm512_setzero_si512();
  for (size_t i = 0; i < d; i += 64) {
    const __mmask64 m = tail_mask(d - i);
    const __m512i va = _mm512_maskz_loadu_epi8(m, a + i);
    const __m512i vb = _mm512_maskz_loadu_epi8(m, b + i);
    const __m512i signed_b = _mm512_mask_sub_epi8(vb, _mm512_movepi8_mask(va), zero, vb);
    const __m512i pairs = _mm512_maddubs_epi16(_mm512_abs_epi8(va), signed_b);
    acc = _mm512_add_epi32(acc, _mm512_madd_epi16(pairs, ones));
  }
  return hsum_epi32_avx512(acc);
}

// VNNI multiplies unsigned by signed bytes and adds each four into a 32-bit lane in one step.
__attribute__((target("avx512f,avx512bw,avx512vnni"))) int32_t dot_codes_avx512vnni(const int8_t* a,
                                                                                    const int8_t* b,
                                                                                    size_t d) {
  const __m512i zero = _mm512_setzero_si512();
  __m512i acc0 = _mm512_setzero_si512(), acc1 = _mm512_setzero_si512();
  size_t i = 0;
  for (; i + 128 <= d; i += 128) {
    const __m512i a0 = _mm512_loadu_si512(a + i), a1 = _mm512_loadu_si512(a + i + 64);
    const __m512i b0 = _mm512_loadu_si512(b + i), b1 = _mm512_loadu_si512(b + i + 64);
    acc0 = _mm512_dpbusd_epi32(acc0, _mm512_abs_epi8(a0),
                               _mm512_mask_sub_epi8(b0, _mm512_movepi8_mask(a0), zero, b0));
    acc1 = _mm512_dpbusd_epi32(acc1, _mm512_abs_epi8(a1),
                               _mm512_mask_sub_epi8(b1, _mm512_movepi8_mask(a1), zero, b1));
  }
  for (; i < d; i += 64) {
    const __mmask64 m = tail_mask(d - i);
    const __m512i va = _mm512_maskz_loadu_epi8(m, a + i);
    const __m512i vb = _mm512_maskz_loadu_epi8(m, b + i);
    acc0 = _mm512_dpbusd_epi32(acc0, _mm512_abs_epi8(va),
                               _mm512_mask_sub_epi8(vb, _mm512_movepi8_mask(va), zero, vb));
  }
  return hsum_epi32_avx512(_mm512_add_epi32(acc0, acc1));
}

bool codes_isa_supported(CodesIsa isa) {
  switch (isa) {
    case CodesIsa::kScalar:
      return true;
    case CodesIsa::kAvx2:
      return simd_isa_supported(SimdIsa::kAvx2);
    case CodesIsa::kAvx512Bw:
      return simd_isa_supported(SimdIsa::kAvx512) && __builtin_cpu_supports("avx512bw");
    case CodesIsa::kAvx512Vnni:
      return codes_isa_supported(CodesIsa::kAvx512Bw) && __builtin_cpu_supports("avx512vnni");
  }
  return false;
}

using DotCodesFn = int32_t (*)(const int8_t*, const int8_t*, size_t);

DotCodesFn dot_codes_for(CodesIsa isa) {
  switch (isa) {
    case CodesIsa::kAvx512Vnni:
      return dot_codes_avx512vnni;
    case CodesIsa::kAvx512Bw:
      return dot_codes_avx512bw;
    case CodesIsa::kAvx2:
      return dot_codes_avx2;
    case CodesIsa::kScalar:
      break;
  }
  return dot_codes_scalar;
}

DotCodesFn best_dot_codes() {
  for (CodesIsa isa : {CodesIsa::kAvx512Vnni, CodesIsa::kAvx512Bw, CodesIsa::kAvx2}) {
    if (codes_isa_supported(isa)) return dot_codes_for(isa);
  }
  return dot_codes_scalar;
}

const DotCodesFn kDotCodes = best_dot_codes();

}  // namespace

int32_t dot_codes(const int8_t* a, const int8_t* b, size_t d) { return kDotCodes(a, b, d); }

bool dot_codes_with(CodesIsa isa, const int8_t* a, const int8_t* b, size_t d, int32_t* out) {
  if (!codes_isa_supported(isa)) return false;
  *out = dot_codes_for(isa)(a, b, d);
  return true;
}

float Int8Rows::quantize(const float* x, size_t dimension, int8_t* codes) {
  float largest = 0;
  for (size_t j = 0; j < dimension; ++j) largest = std::max(largest, std::fabs(x[j]));
  const float scale = largest / 127.0f;
  const float inverse = scale > 0 ? 1.0f / scale : 0.0f;
  for (size_t j = 0; j < dimension; ++j) {
    const float code = std::nearbyint(x[j] * inverse);
    codes[j] = static_cast<int8_t>(std::clamp(code, -127.0f, 127.0f));
  }
  return scale;
}

void Int8Rows::append(const float* rows, size_t n) {
  const size_t start = data_.size();
  data_.resize(start + n * stride_);
  for (size_t r = 0; r < n; ++r) {
    int8_t* out = data_.data() + start + r * stride_;
    const float scale = quantize(rows + r * dimension_, dimension_, out);
    std::memcpy(out + dimension_, &scale, sizeof(float));
  }
  huge_pages_.follow(data_);
}

void Int8Rows::truncate(size_t rows) {
  if (rows < size()) data_.resize(rows * stride_);
}

void Int8Rows::reserve(size_t rows) {
  data_.reserve(rows * stride_);
  huge_pages_.follow(data_);
}

}  // namespace ragkit::retrieval::store
