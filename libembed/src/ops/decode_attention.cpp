#include "ops/decode_attention.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "ops/elementwise.h"
#include "ops/kernel_pragmas.h"

namespace ragkit::embed::ops {

namespace {

// ---- baseline x86-64 -------------------------------------------------------------------------

void scores_scalar(const AttentionSlice& s, float* scores) {
  for (int64_t t = 0; t < s.count; ++t) {
    const float* k = s.keys + t * s.stride;
    for (int64_t r = 0; r < s.group; ++r) {
      const float* q = s.q + r * s.head_dim;
      float dot = 0.0f;
      for (int64_t i = 0; i < s.head_dim; ++i) dot += q[i] * k[i];
      scores[r * s.count + t] = s.scale * dot;
    }
  }
}

void weighted_values_scalar(const AttentionSlice& s, const float* p, float* out) {
  const int64_t hd = s.head_dim;
  std::fill(out, out + s.group * hd, 0.0f);
  for (int64_t t = 0; t < s.count; ++t) {
    const float* v = s.values + t * s.stride;
    for (int64_t r = 0; r < s.group; ++r) {
      const float pr = p[r * s.count + t];
      float* o = out + r * hd;
      for (int64_t i = 0; i < hd; ++i) o[i] += pr * v[i];
    }
  }
}

}  // namespace

}  // namespace ragkit::embed::ops

// ---- AVX2 + FMA ------------------------------------------------------------------------------
// 256-bit vectors also where AVX-512 exists: the Zen 4 class machine these were tuned on splits
// 512-bit work in two halves (see quant_dot_avx512.cpp), and eight keys per reduction suit the
// usual head sizes (64, 128) as well as sixteen would.

RAGKIT_BEGIN_TARGET("avx2,fma")

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

// Lanes [0, n) set (n <= 8), for masked loads and stores of a row's last values.
inline __m256i lane_mask(int64_t n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// acc += q . k over one head, eight lanes wide; the last head_dim % 8 values masked.
inline __m256 dot_lanes(const float* q, const float* k, int64_t full, __m256i tail, bool has_tail,
                        __m256 acc) {
  for (int64_t i = 0; i < full; i += 8) {
    acc = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_loadu_ps(k + i), acc);
  }
  if (has_tail) {
    acc = _mm256_fmadd_ps(_mm256_maskload_ps(q + full, tail), _mm256_maskload_ps(k + full, tail),
                          acc);
  }
  return acc;
}

void scores_avx2(const AttentionSlice& s, float* scores) {
  const int64_t full = s.head_dim & ~int64_t{7};
  const bool has_tail = full < s.head_dim;
  const __m256i tail = lane_mask(s.head_dim - full);
  const __m256 scale = _mm256_set1_ps(s.scale);
  int64_t t = 0;
  // Eight keys at a time, every query head of the group while they are in L1.
  for (; t + 8 <= s.count; t += 8) {
    const float* k = s.keys + t * s.stride;
    for (int64_t r = 0; r < s.group; ++r) {
      const float* q = s.q + r * s.head_dim;
      // Columns outside, keys inside: eight independent FMA chains, not one per key in turn.
      __m256 acc[8];
      for (int j = 0; j < 8; ++j) acc[j] = _mm256_setzero_ps();
      for (int64_t i = 0; i < full; i += 8) {
        const __m256 qv = _mm256_loadu_ps(q + i);
        for (int j = 0; j < 8; ++j) {
          acc[j] = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k + j * s.stride + i), acc[j]);
        }
      }
      if (has_tail) {
        const __m256 qv = _mm256_maskload_ps(q + full, tail);
        for (int j = 0; j < 8; ++j) {
          acc[j] = _mm256_fmadd_ps(qv, _mm256_maskload_ps(k + j * s.stride + full, tail), acc[j]);
        }
      }
      _mm256_storeu_ps(scores + r * s.count + t, _mm256_mul_ps(scale, reduce8(acc)));
    }
  }
  for (; t < s.count; ++t) {
    const float* k = s.keys + t * s.stride;
    for (int64_t r = 0; r < s.group; ++r) {
      const __m256 acc =
          dot_lanes(s.q + r * s.head_dim, k, full, tail, has_tail, _mm256_setzero_ps());
      scores[r * s.count + t] = s.scale * hsum8(acc);
    }
  }
}

// out[0 .. 8 * NV) += sum_{t < count} p[t] * v_t[0 .. 8 * NV) for NV full vectors of columns:
// NV independent accumulators held in registers, each value row read as one contiguous run.
template <int NV>
void add_weighted_columns(const float* v, int64_t stride, const float* p, int64_t count,
                          float* out) {
  __m256 acc[NV];
  for (int j = 0; j < NV; ++j) acc[j] = _mm256_loadu_ps(out + 8 * j);
  for (int64_t t = 0; t < count; ++t) {
    const __m256 pt = _mm256_broadcast_ss(p + t);
    const float* row = v + t * stride;
    for (int j = 0; j < NV; ++j) acc[j] = _mm256_fmadd_ps(pt, _mm256_loadu_ps(row + 8 * j), acc[j]);
  }
  for (int j = 0; j < NV; ++j) _mm256_storeu_ps(out + 8 * j, acc[j]);
}

// The same for the last head_dim % 8 columns, masked.
void add_weighted_tail(const float* v, int64_t stride, const float* p, int64_t count, float* out,
                       __m256i mask) {
  __m256 acc = _mm256_maskload_ps(out, mask);
  for (int64_t t = 0; t < count; ++t) {
    acc = _mm256_fmadd_ps(_mm256_broadcast_ss(p + t), _mm256_maskload_ps(v + t * stride, mask), acc);
  }
  _mm256_maskstore_ps(out, mask, acc);
}

// out[r] = sum_t p[r][t] v_t. Positions in blocks of 64 (their rows stay in L1 while every query
// head of the group uses them), columns 64 at a time: one pass per block, head and 64 columns
// reads each row's part once, in order, with eight accumulators in registers. (Columns in
// 16-wide strips with all heads at once read each row four times at 768-byte strides, and the
// rows missed the cache on every strip: 3.7 GB/s from memory.)
void weighted_values_avx2(const AttentionSlice& s, const float* p, float* out) {
  constexpr int64_t kBlock = 64;
  const int64_t hd = s.head_dim, full = hd & ~int64_t{7};
  const __m256i tail = lane_mask(hd - full);
  for (int64_t i = 0; i < s.group * hd; ++i) out[i] = 0.0f;
  for (int64_t t0 = 0; t0 < s.count; t0 += kBlock) {
    const int64_t n = s.count - t0 < kBlock ? s.count - t0 : kBlock;
    const float* v = s.values + t0 * s.stride;
    for (int64_t r = 0; r < s.group; ++r) {
      const float* pr = p + r * s.count + t0;
      float* o = out + r * hd;
      for (int64_t c = 0; c < full; c += 64) {
        switch ((full - c) / 8) {
          case 1: add_weighted_columns<1>(v + c, s.stride, pr, n, o + c); break;
          case 2: add_weighted_columns<2>(v + c, s.stride, pr, n, o + c); break;
          case 3: add_weighted_columns<3>(v + c, s.stride, pr, n, o + c); break;
          case 4: add_weighted_columns<4>(v + c, s.stride, pr, n, o + c); break;
          case 5: add_weighted_columns<5>(v + c, s.stride, pr, n, o + c); break;
          case 6: add_weighted_columns<6>(v + c, s.stride, pr, n, o + c); break;
          case 7: add_weighted_columns<7>(v + c, s.stride, pr, n, o + c); break;
          default: add_weighted_columns<8>(v + c, s.stride, pr, n, o + c); break;
        }
      }
      if (full < hd) add_weighted_tail(v + full, s.stride, pr, n, o + full, tail);
    }
  }
}

}  // namespace

}  // namespace ragkit::embed::ops

RAGKIT_END_TARGET()

namespace ragkit::embed::ops {

bool attend_slice_with(SimdIsa isa, const AttentionSlice& slice, float* scores, float* out,
                       float* max, float* sum) {
  if (!simd_isa_supported(isa)) return false;
  const bool simd = isa != SimdIsa::kScalar;
  if (simd) {
    scores_avx2(slice, scores);
  } else {
    scores_scalar(slice, scores);
  }
  for (int64_t r = 0; r < slice.group; ++r) {
    sum[r] = exp_minus_max(scores + r * slice.count, slice.count, &max[r]);
  }
  if (simd) {
    weighted_values_avx2(slice, scores, out);
  } else {
    weighted_values_scalar(slice, scores, out);
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
