#include "ops/decode_attention.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "ops/decode_attention_kernels.h"
#include "ops/elementwise.h"
#include "ops/kernel_pragmas.h"
#include "ops/quant_dot.h"
#include "ragkit/embed/tensor.h"

namespace ragkit::embed::ops {

namespace {

// ---- baseline x86-64 -------------------------------------------------------------------------

inline float element(const float* p) { return *p; }
inline float element(const uint16_t* p) { return fp16_to_fp32(*p); }

template <class T>
void scores_scalar(const AttentionSlice& s, float* scores) {
  const T* keys = static_cast<const T*>(s.keys);
  for (int64_t t = 0; t < s.count; ++t) {
    const T* k = keys + t * s.stride;
    for (int64_t r = 0; r < s.group; ++r) {
      const float* q = s.q + r * s.head_dim;
      float dot = 0.0f;
      for (int64_t i = 0; i < s.head_dim; ++i) dot += q[i] * element(k + i);
      scores[r * s.count + t] = s.scale * dot;
    }
  }
}

template <class T>
void weighted_values_scalar(const AttentionSlice& s, const float* p, float* out) {
  const int64_t hd = s.head_dim;
  const T* values = static_cast<const T*>(s.values);
  std::fill(out, out + s.group * hd, 0.0f);
  for (int64_t t = 0; t < s.count; ++t) {
    const T* v = values + t * s.stride;
    for (int64_t r = 0; r < s.group; ++r) {
      const float pr = p[r * s.count + t];
      float* o = out + r * hd;
      for (int64_t i = 0; i < hd; ++i) o[i] += pr * element(v + i);
    }
  }
}

}  // namespace

}  // namespace ragkit::embed::ops

// ---- AVX2 + FMA + F16C -------------------------------------------------------------------------
// For CPUs without AVX-512, and for shapes the AVX-512 kernels do not take (a head size that is
// not a multiple of 16, a group of more than eight query heads): decode_attention_avx512.cpp.

RAGKIT_BEGIN_TARGET("avx2,fma,f16c")

namespace ragkit::embed::ops {

namespace {

// Lane k = the sum of the eight lanes of v[k].
inline __m256 reduce8(const __m256 v[8]) {
  const __m256 h01 = _mm256_hadd_ps(v[0], v[1]);
  const __m256 h23 = _mm256_hadd_ps(v[2], v[3]);
  const __m256 h45 = _mm256_hadd_ps(v[4], v[5]);
  const __m256 h67 = _mm256_hadd_ps(v[6], v[7]);
  // Per 128-bit half: the partial sums of v[0..3] (or v[4..7]) over that half's lanes.
  const __m256 h0123 = _mm256_hadd_ps(h01, h23);
  const __m256 h4567 = _mm256_hadd_ps(h45, h67);
  return _mm256_add_ps(_mm256_permute2f128_ps(h0123, h4567, 0x20),
                       _mm256_permute2f128_ps(h0123, h4567, 0x31));
}

inline float hsum8(__m256 x) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Eight elements as floats; and the first n (< 8) of them, the rest 0, without reading further.
inline __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
inline __m256 load8(const uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
inline __m256 load_first(const float* p, int64_t n) {
  const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)),
                                          _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  return _mm256_maskload_ps(p, mask);
}
inline __m256 load_first(const uint16_t* p, int64_t n) {
  uint16_t part[8] = {};
  std::memcpy(part, p, static_cast<size_t>(n) * sizeof(uint16_t));
  return load8(part);
}

// Cached rows are fetched this many positions ahead of use: without it a decoded token's
// attention read the cache at a third of the memory's speed (the same reason as the weight
// prefetch in quant_dot_simd.h). Lines past the end of a head's rows are harmless: prefetches
// never fault.
constexpr int64_t kPrefetchRows = 16;

template <class T>
void scores_avx2(const AttentionSlice& s, float* scores) {
  const T* keys = static_cast<const T*>(s.keys);
  const int64_t hd = s.head_dim, full = hd & ~int64_t{7}, tail = hd - full;
  const __m256 scale = _mm256_set1_ps(s.scale);
  int64_t t = 0;
  // Eight keys at a time, every query head of the group while they are in L1.
  for (; t + 8 <= s.count; t += 8) {
    const T* k = keys + t * s.stride;
    detail::prefetch_rows(k, kPrefetchRows, s.stride, 8, hd);
    for (int64_t r = 0; r < s.group; ++r) {
      const float* q = s.q + r * hd;
      // Columns outside, keys inside: eight independent FMA chains, not one per key in turn.
      __m256 acc[8];
      for (int j = 0; j < 8; ++j) acc[j] = _mm256_setzero_ps();
      for (int64_t i = 0; i < full; i += 8) {
        const __m256 qv = _mm256_loadu_ps(q + i);
        for (int j = 0; j < 8; ++j)
          acc[j] = _mm256_fmadd_ps(qv, load8(k + j * s.stride + i), acc[j]);
      }
      if (tail != 0) {
        const __m256 qv = load_first(q + full, tail);
        for (int j = 0; j < 8; ++j) {
          acc[j] = _mm256_fmadd_ps(qv, load_first(k + j * s.stride + full, tail), acc[j]);
        }
      }
      _mm256_storeu_ps(scores + r * s.count + t, _mm256_mul_ps(scale, reduce8(acc)));
    }
  }
  for (; t < s.count; ++t) {
    const T* k = keys + t * s.stride;
    for (int64_t r = 0; r < s.group; ++r) {
      const float* q = s.q + r * hd;
      __m256 acc = _mm256_setzero_ps();
      for (int64_t i = 0; i < full; i += 8)
        acc = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), load8(k + i), acc);
      if (tail != 0)
        acc = _mm256_fmadd_ps(load_first(q + full, tail), load_first(k + full, tail), acc);
      scores[r * s.count + t] = s.scale * hsum8(acc);
    }
  }
}

// out[0 .. 8 * NV) += sum_{t < count} p[t] * v_t[0 .. 8 * NV) for NV full vectors of columns:
// NV independent accumulators held in registers, each value row read as one contiguous run.
template <int NV, class T>
void add_weighted_columns(const T* v, int64_t stride, const float* p, int64_t count, float* out) {
  __m256 acc[NV];
  for (int j = 0; j < NV; ++j) acc[j] = _mm256_loadu_ps(out + 8 * j);
  for (int64_t t = 0; t < count; ++t) {
    const __m256 pt = _mm256_broadcast_ss(p + t);
    const T* row = v + t * stride;
    detail::prefetch_rows(row, kPrefetchRows, stride, 1, 8 * NV);
    for (int j = 0; j < NV; ++j) acc[j] = _mm256_fmadd_ps(pt, load8(row + 8 * j), acc[j]);
  }
  for (int j = 0; j < NV; ++j) _mm256_storeu_ps(out + 8 * j, acc[j]);
}

// The same for the last n (< 8) columns.
template <class T>
void add_weighted_tail(const T* v, int64_t stride, const float* p, int64_t count, float* out,
                       int64_t n) {
  __m256 acc = load_first(out, n);
  for (int64_t t = 0; t < count; ++t) {
    acc = _mm256_fmadd_ps(_mm256_broadcast_ss(p + t), load_first(v + t * stride, n), acc);
  }
  float lanes[8];
  _mm256_storeu_ps(lanes, acc);
  std::memcpy(out, lanes, static_cast<size_t>(n) * sizeof(float));
}

// out[r] = sum_t p[r][t] v_t. Positions in blocks of 64 (their rows stay in L1 while every query
// head of the group uses them), columns 64 at a time: one pass per block, head and 64 columns
// reads each row's part once, in order, with eight accumulators in registers. (Columns in
// 16-wide strips with all heads at once read each row four times and missed the cache on every
// strip.)
template <class T>
void weighted_values_avx2(const AttentionSlice& s, const float* p, float* out) {
  constexpr int64_t kBlock = 64;
  // add_weighted_columns for 1..8 vectors of columns.
  using ColumnsFn = void (*)(const T*, int64_t, const float*, int64_t, float*);
  static constexpr ColumnsFn kColumns[8] = {
      add_weighted_columns<1, T>, add_weighted_columns<2, T>, add_weighted_columns<3, T>,
      add_weighted_columns<4, T>, add_weighted_columns<5, T>, add_weighted_columns<6, T>,
      add_weighted_columns<7, T>, add_weighted_columns<8, T>};
  const T* values = static_cast<const T*>(s.values);
  const int64_t hd = s.head_dim, full = hd & ~int64_t{7};
  for (int64_t i = 0; i < s.group * hd; ++i) out[i] = 0.0f;
  for (int64_t t0 = 0; t0 < s.count; t0 += kBlock) {
    const int64_t n = s.count - t0 < kBlock ? s.count - t0 : kBlock;
    const T* v = values + t0 * s.stride;
    for (int64_t r = 0; r < s.group; ++r) {
      const float* pr = p + r * s.count + t0;
      float* o = out + r * hd;
      for (int64_t c = 0; c < full; c += 64) {
        const int64_t vectors = (full - c) / 8;
        kColumns[(vectors < 8 ? vectors : 8) - 1](v + c, s.stride, pr, n, o + c);
      }
      if (full < hd) add_weighted_tail(v + full, s.stride, pr, n, o + full, hd - full);
    }
  }
}

}  // namespace

}  // namespace ragkit::embed::ops

RAGKIT_END_TARGET()

namespace ragkit::embed::ops {

namespace {

template <class T>
void attend(SimdIsa isa, const AttentionSlice& slice, float* scores, float* out, float* max,
            float* sum) {
  // The AVX2 code needs AVX2, FMA and F16C (quant_dot.h's AVX2 level checks all three).
  const bool wide = isa == SimdIsa::kAvx512 && detail::avx512_attention_fits(slice);
  const bool simd = isa != SimdIsa::kScalar && isa_supported(Isa::kAvx2);
  if (wide) {
    detail::scores_avx512(slice, scores);
  } else if (simd) {
    scores_avx2<T>(slice, scores);
  } else {
    scores_scalar<T>(slice, scores);
  }
  for (int64_t r = 0; r < slice.group; ++r) {
    sum[r] = exp_minus_max(scores + r * slice.count, slice.count, &max[r]);
  }
  if (wide) {
    detail::weighted_values_avx512(slice, scores, out);
  } else if (simd) {
    weighted_values_avx2<T>(slice, scores, out);
  } else {
    weighted_values_scalar<T>(slice, scores, out);
  }
}

}  // namespace

bool attend_slice_with(SimdIsa isa, const AttentionSlice& slice, float* scores, float* out,
                       float* max, float* sum) {
  if (!simd_isa_supported(isa)) return false;
  if (slice.f16) {
    attend<uint16_t>(isa, slice, scores, out, max, sum);
  } else {
    attend<float>(isa, slice, scores, out, max, sum);
  }
  return true;
}

void attend_slice(const AttentionSlice& slice, float* scores, float* out, float* max, float* sum) {
  attend_slice_with(best_simd_isa(), slice, scores, out, max, sum);
}

void merge_attention_parts(const float* outs, int64_t out_stride, const float* max,
                           const float* sum, int64_t stat_stride, int64_t n, int64_t head_dim,
                           float* out) {
  float top = max[0];
  for (int64_t c = 1; c < n; ++c) top = std::max(top, max[c * stat_stride]);
  float total = 0.0f;
  std::fill(out, out + head_dim, 0.0f);
  for (int64_t c = 0; c < n; ++c) {
    const float w = std::exp(max[c * stat_stride] - top);
    total += w * sum[c * stat_stride];
    const float* o = outs + c * out_stride;
    for (int64_t i = 0; i < head_dim; ++i) out[i] += w * o[i];
  }
  const float inv = 1.0f / total;
  for (int64_t i = 0; i < head_dim; ++i) out[i] *= inv;
}

}  // namespace ragkit::embed::ops
