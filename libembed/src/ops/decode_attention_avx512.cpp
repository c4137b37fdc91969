// AVX-512 kernels of a decoded token's attention (decode_attention.h). Each cached key and value
// row is widened once and, while in registers, used by every query head of the group: the AVX2
// kernels widen it once per query head, and with SmolLM2's group of three those conversions, not
// the memory, set their speed (~12 GB/s of F16 cache per thread).
//
// Scores: keys in blocks of KB, columns 16 at a time outside, keys and heads inside, so the
// G * KB accumulators of a block are independent FMA chains; each holds 16 partial sums of one
// (head, key) dot product, and sixteen of them are reduced together (fold16) in 15 shuffle-add
// steps. Weighted values: G * CW accumulators of 16 columns each, one row of values (CW
// vectors) widened per position and multiplied by every head's weight.
#include <immintrin.h>

#include <cstdint>

#include "ops/decode_attention_kernels.h"
#include "ops/kernel_pragmas.h"

RAGKIT_BEGIN_TARGET("avx512f,avx2,fma,f16c")

// GCC 12's AVX-512 shuffles and conversions pass _mm512_undefined_ps() as their merge source and
// then warn that it is uninitialised (GCC bug 105593, fixed in GCC 13).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace ragkit::embed::ops::detail {

namespace {

// Accumulators a kernel may keep in the 32 vector registers, leaving room for its operands.
constexpr int kMaxAccumulators = 24;

// Rows are fetched this many bytes ahead of use (at least kMinPrefetchRows rows): the cache
// streams from memory in decoding (the weights read since the last token evicted it).
constexpr int64_t kPrefetchBytes = 4096;
constexpr int64_t kMinPrefetchRows = 4;

inline __m512 load16(const float* p) { return _mm512_loadu_ps(p); }
inline __m512 load16(const uint16_t* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

template <class T>
int64_t prefetch_distance(int64_t width) {
  const int64_t rows = kPrefetchBytes / (width * static_cast<int64_t>(sizeof(T)));
  return rows > kMinPrefetchRows ? rows : kMinPrefetchRows;
}

// The folds of sixteen vectors into one vector of their lane sums. Each step adds two vectors'
// halves (of 256, 128, 64, then 32 bits) pairwise: after the four steps
//   d[4k + m] = the sum of the lanes of v[4m + k].
inline __m512 fold256(__m512 a, __m512 b) {
  return _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x44), _mm512_shuffle_f32x4(a, b, 0xEE));
}
inline __m512 fold128(__m512 a, __m512 b) {
  return _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x88), _mm512_shuffle_f32x4(a, b, 0xDD));
}
inline __m512 fold64(__m512 a, __m512 b) {
  const __m512d x = _mm512_castps_pd(a), y = _mm512_castps_pd(b);
  return _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(x, y)),
                       _mm512_castpd_ps(_mm512_unpackhi_pd(x, y)));
}
inline __m512 fold32(__m512 a, __m512 b) {
  return _mm512_add_ps(_mm512_shuffle_ps(a, b, 0x88), _mm512_shuffle_ps(a, b, 0xDD));
}
// Folds v[0 .. N) and 16 - N zero vectors (N <= 16). The zeros are known at compile time: a
// pair of them is skipped, not shuffled.
template <int N>
inline __m512 fold16(const __m512* v) {
  static_assert(N >= 1 && N <= 16);
  constexpr int kA = (N + 1) / 2, kB = (kA + 1) / 2, kC = (kB + 1) / 2;
  const __m512 zero = _mm512_setzero_ps();
  __m512 a[8], b[4], c[2];
  for (int i = 0; i < kA; ++i) a[i] = fold256(v[2 * i], 2 * i + 1 < N ? v[2 * i + 1] : zero);
  for (int i = 0; i < kB; ++i) b[i] = fold128(a[2 * i], 2 * i + 1 < kA ? a[2 * i + 1] : zero);
  for (int i = 0; i < kC; ++i) c[i] = fold64(b[2 * i], 2 * i + 1 < kB ? b[2 * i + 1] : zero);
  return fold32(c[0], kC > 1 ? c[1] : zero);
}

// Where fold16 put the sum of v[j & 15]: lane kFoldedLane[j]. Loading 16 entries from
// kFoldedLane + first gives the permutation that brings the sums of v[first ..] to lanes 0 ...
alignas(64) constexpr int32_t kFoldedLane[32] = {0,  4,  8, 12, 1,  5,  9, 13, 2,  6, 10,
                                                 14, 3,  7, 11, 15, 0,  4, 8,  12, 1, 5,
                                                 9,  13, 2, 6,  10, 14, 3, 7,  11, 15};

// Folds the sums of acc[V ..] (head r with key j at r * KB + j), sixteen at a time, scales them
// and stores head r's KB scores at scores + r * count.
template <int G, int KB, int V>
inline void store_folded(const __m512* acc, __m512 scale, float* scores, int64_t count) {
  constexpr int kN = G * KB, kFold = kN - V < 16 ? kN - V : 16;
  const __m512 folded = _mm512_mul_ps(scale, fold16<kFold>(acc + V));
  for (int r = V / KB; r * KB < V + kFold; ++r) {
    const __m512i lanes = _mm512_loadu_si512(kFoldedLane + (r * KB - V));
    _mm512_mask_storeu_ps(scores + r * count, static_cast<__mmask16>((1u << KB) - 1),
                          _mm512_permutexvar_ps(lanes, folded));
  }
  if constexpr (V + 16 < kN) store_folded<G, KB, V + 16>(acc, scale, scores, count);
}

template <class T, int G, int KB>
void scores_kernel(const AttentionSlice& s, float* scores) {
  constexpr int kN = G * KB;
  const T* keys = static_cast<const T*>(s.keys);
  const int64_t hd = s.head_dim, stride = s.stride;
  const int64_t ahead = prefetch_distance<T>(hd);
  const __m512 scale = _mm512_set1_ps(s.scale);
  const T* values = static_cast<const T*>(s.values);
  // The first rows, which the prefetches in the loop do not cover: keys for now, values for the
  // second pass (into L2).
  const int64_t first = ahead < s.count ? ahead : s.count;
  prefetch_rows(keys, 0, stride, first, hd);
  prefetch_rows</*kLocality=*/2>(values, 0, stride, first, hd);
  int64_t t = 0;
  for (; t + KB <= s.count; t += KB) {
    const T* k = keys + t * stride;
    prefetch_rows(k, ahead, stride, KB, hd);
    prefetch_rows</*kLocality=*/2>(values + t * stride, ahead, stride, KB, hd);
    // acc[r * KB + j]: head r with key t + j.
    __m512 acc[kN];
    for (int i = 0; i < kN; ++i) acc[i] = _mm512_setzero_ps();
    for (int64_t c = 0; c < hd; c += 16) {
      __m512 q[G];
      for (int r = 0; r < G; ++r) q[r] = _mm512_loadu_ps(s.q + r * hd + c);
      for (int j = 0; j < KB; ++j) {
        const __m512 kj = load16(k + j * stride + c);
        for (int r = 0; r < G; ++r) acc[r * KB + j] = _mm512_fmadd_ps(q[r], kj, acc[r * KB + j]);
      }
    }
    store_folded<G, KB, 0>(acc, scale, scores + t, s.count);
  }
  for (; t < s.count; ++t) {
    // The last keys one at a time, the group's sums folded together (G <= 16).
    const T* k = keys + t * stride;
    __m512 acc[G];
    for (int r = 0; r < G; ++r) acc[r] = _mm512_setzero_ps();
    for (int64_t c = 0; c < hd; c += 16) {
      const __m512 kc = load16(k + c);
      for (int r = 0; r < G; ++r) {
        acc[r] = _mm512_fmadd_ps(_mm512_loadu_ps(s.q + r * hd + c), kc, acc[r]);
      }
    }
    alignas(64) float sums[16];
    _mm512_store_ps(sums, _mm512_mul_ps(scale, _mm512_permutexvar_ps(_mm512_load_si512(kFoldedLane),
                                                                     fold16<G>(acc))));
    for (int r = 0; r < G; ++r) scores[r * s.count + t] = sums[r];
  }
}

// out_r[0 .. 16 CW) += sum_{t < n} p_r[t] v_t[0 .. 16 CW) for the G heads r: head r's weights at
// p + r * p_stride, its output at out + r * out_stride.
template <class T, int G, int CW>
void add_weighted_rows(const T* v, int64_t stride, int64_t width, const float* p, int64_t p_stride,
                       int64_t n, float* out, int64_t out_stride) {
  const int64_t ahead = prefetch_distance<T>(width);
  __m512 acc[G][CW];
  for (int r = 0; r < G; ++r) {
    for (int c = 0; c < CW; ++c) acc[r][c] = _mm512_loadu_ps(out + r * out_stride + 16 * c);
  }
  for (int64_t t = 0; t < n; ++t) {
    const T* row = v + t * stride;
    prefetch_rows(row, ahead, stride, 1, 16 * CW);
    __m512 x[CW];
    for (int c = 0; c < CW; ++c) x[c] = load16(row + 16 * c);
    for (int r = 0; r < G; ++r) {
      const __m512 pr = _mm512_set1_ps(p[r * p_stride + t]);
      for (int c = 0; c < CW; ++c) acc[r][c] = _mm512_fmadd_ps(pr, x[c], acc[r][c]);
    }
  }
  for (int r = 0; r < G; ++r) {
    for (int c = 0; c < CW; ++c) _mm512_storeu_ps(out + r * out_stride + 16 * c, acc[r][c]);
  }
}

// The widest column tile (in vectors of 16) whose accumulators fit: G * CW <= kMaxAccumulators.
template <int G>
constexpr int kMaxTile = kMaxAccumulators / G >= 8 ? 8 : kMaxAccumulators / G;

template <class T, int G, int CW>
void add_weighted_tile(int cw, const T* v, int64_t stride, int64_t width, const float* p,
                       int64_t p_stride, int64_t n, float* out, int64_t out_stride) {
  if constexpr (CW > 1) {
    if (cw < CW) {
      add_weighted_tile<T, G, CW - 1>(cw, v, stride, width, p, p_stride, n, out, out_stride);
      return;
    }
  }
  add_weighted_rows<T, G, CW>(v, stride, width, p, p_stride, n, out, out_stride);
}

template <class T, int G>
void weighted_values_kernel(const AttentionSlice& s, const float* p, float* out) {
  // Positions in blocks of kBlock, so that when a head is wider than one tile the block's rows
  // are still in L1 for the next tile.
  constexpr int64_t kBlock = 64;
  const T* values = static_cast<const T*>(s.values);
  const int64_t hd = s.head_dim, vectors = hd / 16;
  for (int64_t i = 0; i < G * hd; ++i) out[i] = 0.0f;
  for (int64_t t0 = 0; t0 < s.count; t0 += kBlock) {
    const int64_t n = s.count - t0 < kBlock ? s.count - t0 : kBlock;
    for (int64_t c = 0; c < vectors; c += kMaxTile<G>) {
      const int cw = static_cast<int>(vectors - c < kMaxTile<G> ? vectors - c : kMaxTile<G>);
      add_weighted_tile<T, G, kMaxTile<G>>(cw, values + t0 * s.stride + 16 * c, s.stride, hd,
                                           p + t0, s.count, n, out + 16 * c, hd);
    }
  }
}

// Keys per scores block for a group of G: as many as keep the accumulators in registers.
template <int G>
constexpr int kKeyBlock = G <= 3   ? 8
                          : G <= 6 ? 4
                                   : 2;

// Calls kernel.template operator()<G>() for G = the slice's group (1 .. kMaxAvx512Group).
template <int G = 1, class Kernel>
void with_group(int64_t group, const Kernel& kernel) {
  if constexpr (G < kMaxAvx512Group) {
    if (group != G) {
      with_group<G + 1>(group, kernel);
      return;
    }
  }
  kernel.template operator()<G>();
}

template <class T>
void scores_of(const AttentionSlice& s, float* scores) {
  with_group(s.group, [&]<int G>() { scores_kernel<T, G, kKeyBlock<G>>(s, scores); });
}

template <class T>
void weighted_values_of(const AttentionSlice& s, const float* p, float* out) {
  with_group(s.group, [&]<int G>() { weighted_values_kernel<T, G>(s, p, out); });
}

}  // namespace

void scores_avx512(const AttentionSlice& s, float* scores) {
  if (s.f16) {
    scores_of<uint16_t>(s, scores);
  } else {
    scores_of<float>(s, scores);
  }
}

void weighted_values_avx512(const AttentionSlice& s, const float* p, float* out) {
  if (s.f16) {
    weighted_values_of<uint16_t>(s, p, out);
  } else {
    weighted_values_of<float>(s, p, out);
  }
}

}  // namespace ragkit::embed::ops::detail

RAGKIT_END_TARGET()
