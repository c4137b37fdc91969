#include "store/inner_product.h"

#include <immintrin.h>

#include "store/horizontal_sum.h"

namespace ragkit::retrieval::store {
namespace {

// --- Baseline: 8 independent lanes, which the compiler keeps in two SSE registers.

float dot_scalar(const float* a, const float* b, size_t d) {
  float acc[8] = {};
  size_t i = 0;
  for (; i + 8 <= d; i += 8) {
    for (int j = 0; j < 8; ++j) acc[j] += a[i + j] * b[i + j];
  }
  float s = 0;
  for (; i < d; ++i) s += a[i] * b[i];
  for (int j = 0; j < 8; ++j) s += acc[j];
  return s;
}

void dots_scalar(const float* q, const float* rows, size_t n, size_t d, float* out) {
  for (size_t r = 0; r < n; ++r) out[r] = dot_scalar(q, rows + r * d, d);
}

// --- AVX2 + FMA.

// Four accumulators: four FMAs in flight instead of one waiting on the last.
__attribute__((target("avx2,fma"))) float dot_avx2(const float* a, const float* b, size_t d) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= d; i += 32) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
    s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
  }
  for (; i + 8 <= d; i += 8) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
  }
  float t = hsum_avx2(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
  for (; i < d; ++i) t += a[i] * b[i];
  return t;
}

// Four rows at a time share each load of the query and keep four chains in flight.
__attribute__((target("avx2,fma"))) void dots_avx2(const float* q, const float* rows, size_t n,
                                                   size_t d, float* out) {
  size_t r = 0;
  const size_t vec_end = d & ~size_t{7};
  for (; r + 4 <= n; r += 4) {
    const float* r0 = rows + r * d;
    const float* r1 = r0 + d;
    const float* r2 = r1 + d;
    const float* r3 = r2 + d;
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    for (size_t i = 0; i < vec_end; i += 8) {
      const __m256 qv = _mm256_loadu_ps(q + i);
      s0 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(r0 + i), s0);
      s1 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(r1 + i), s1);
      s2 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(r2 + i), s2);
      s3 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(r3 + i), s3);
    }
    float t0 = hsum_avx2(s0), t1 = hsum_avx2(s1), t2 = hsum_avx2(s2), t3 = hsum_avx2(s3);
    for (size_t i = vec_end; i < d; ++i) {
      t0 += q[i] * r0[i];
      t1 += q[i] * r1[i];
      t2 += q[i] * r2[i];
      t3 += q[i] * r3[i];
    }
    out[r] = t0;
    out[r + 1] = t1;
    out[r + 2] = t2;
    out[r + 3] = t3;
  }
  for (; r < n; ++r) out[r] = dot_avx2(q, rows + r * d, d);
}

// --- AVX-512: masked loads for the tail, so any d runs without a scalar loop.

__attribute__((target("avx512f"))) inline __mmask16 tail_mask(size_t d) {
  return static_cast<__mmask16>((1u << (d & 15)) - 1u);
}

__attribute__((target("avx512f"))) float dot_avx512(const float* a, const float* b, size_t d) {
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  __m512 s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 64 <= d; i += 64) {
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
    s2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32), s2);
    s3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48), s3);
  }
  for (; i + 16 <= d; i += 16) {
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
  }
  if (i < d) {
    const __mmask16 m = tail_mask(d);
    s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s1);
  }
  return hsum_avx512(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

__attribute__((target("avx512f"))) void dots_avx512(const float* q, const float* rows, size_t n,
                                                     size_t d, float* out) {
  const size_t vec_end = d & ~size_t{15};
  const __mmask16 m = tail_mask(d);
  size_t r = 0;
  for (; r + 4 <= n; r += 4) {
    const float* r0 = rows + r * d;
    const float* r1 = r0 + d;
    const float* r2 = r1 + d;
    const float* r3 = r2 + d;
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    __m512 s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
    for (size_t i = 0; i < vec_end; i += 16) {
      const __m512 qv = _mm512_loadu_ps(q + i);
      s0 = _mm512_fmadd_ps(qv, _mm512_loadu_ps(r0 + i), s0);
      s1 = _mm512_fmadd_ps(qv, _mm512_loadu_ps(r1 + i), s1);
      s2 = _mm512_fmadd_ps(qv, _mm512_loadu_ps(r2 + i), s2);
      s3 = _mm512_fmadd_ps(qv, _mm512_loadu_ps(r3 + i), s3);
    }
    if (vec_end < d) {
      const __m512 qv = _mm512_maskz_loadu_ps(m, q + vec_end);
      s0 = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(m, r0 + vec_end), s0);
      s1 = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(m, r1 + vec_end), s1);
      s2 = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(m, r2 + vec_end), s2);
      s3 = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(m, r3 + vec_end), s3);
    }
    out[r] = hsum_avx512(s0);
    out[r + 1] = hsum_avx512(s1);
    out[r + 2] = hsum_avx512(s2);
    out[r + 3] = hsum_avx512(s3);
  }
  for (; r < n; ++r) out[r] = dot_avx512(q, rows + r * d, d);
}

using DotFn = float (*)(const float*, const float*, size_t);
using DotsFn = void (*)(const float*, const float*, size_t, size_t, float*);

DotFn dot_for(SimdIsa isa) {
  switch (isa) {
    case SimdIsa::kAvx512: return dot_avx512;
    case SimdIsa::kAvx2: return dot_avx2;
    case SimdIsa::kScalar: break;
  }
  return dot_scalar;
}

DotsFn dots_for(SimdIsa isa) {
  switch (isa) {
    case SimdIsa::kAvx512: return dots_avx512;
    case SimdIsa::kAvx2: return dots_avx2;
    case SimdIsa::kScalar: break;
  }
  return dots_scalar;
}

const DotFn kDot = dot_for(best_simd_isa());
const DotsFn kDots = dots_for(best_simd_isa());

}  // namespace

float inner_product(const float* a, const float* b, size_t d) { return kDot(a, b, d); }

void inner_products(const float* q, const float* rows, size_t n, size_t d, float* out) {
  kDots(q, rows, n, d, out);
}

bool inner_product_with(SimdIsa isa, const float* a, const float* b, size_t d, float* out) {
  if (!simd_isa_supported(isa)) return false;
  *out = dot_for(isa)(a, b, d);
  return true;
}

bool inner_products_with(SimdIsa isa, const float* q, const float* rows, size_t n, size_t d,
                         float* out) {
  if (!simd_isa_supported(isa)) return false;
  dots_for(isa)(q, rows, n, d, out);
  return true;
}

}  // namespace ragkit::retrieval::store
