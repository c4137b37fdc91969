// The kernels of packed weight rows (packed_rows.h) for AVX-512 VNNI, 256-bit vectors (as the
// row-wise kernels: ymm vpdpbusd issues on two ports where the zmm form uses one). Only called
// after cpuid said the CPU has it (packed_rows.cpp).
//
// Per packed block of the legacy types (eight rows x 32 values) and activation row: eight vpdpbusd,
// each multiplying four unsigned values of each of the eight rows by four activations broadcast to
// every lane, in two chains of four (their latency would otherwise bound a decoded row); the chains
// start from -offset * sum(activations of the block), made once per tile, so that lane r ends as
// row r's exact block sum of (value - offset) * activation. Then, as in every other kernel, acc +=
// (d_w * d_a) * isum, eight rows at once.
//
// Measured on an Intel Xeon VM (AVX-512 VNNI), one thread, a 576 x 1536 matrix
// (ragkit_quant_dot_bench), row-wise -> packed: in cache (DecodeRow) Q8_0 27.3 -> 47.3, Q4_0
// 15.4 -> 26.8, Q5_0 15.9 -> 25.0 GB/s; from memory 9.9 -> 10.5, 9.3 -> 10.8, 9.4 -> 10.8 GB/s;
// 64 rows (Batch64) 188 -> 227, 189 -> 221, 181 -> 187 GFLOP/s. Q4_K (its own section below):
// 14.4 -> 27 GB/s in cache, 205 -> 204 GFLOP/s.

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "ops/kernel_pragmas.h"
#include "ops/packed_rows.h"
#include "ops/quant_dot_common.h"
#include "ops/stream_prefetch.h"

RAGKIT_BEGIN_TARGET("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")
RAGKIT_EXACT_FLOAT_OPS()

namespace ragkit::embed::ops {

using namespace detail;  // NOLINT: the shared constants and loaders of the quant_dot files

namespace {

inline __m256i load256(const uint8_t* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}

inline __m256i broadcast32(const uint8_t* p) {
  return _mm256_set1_epi32(static_cast<int>(load_u32(p)));
}

// A packed type: bytes per packed block, the offset its unsigned values carry, and the values of
// pieces h and h + 4 (values 4h..4h+3 and 16+4h..16+4h+3 of each row) as unsigned bytes.
struct Q8_0Packed {
  static constexpr size_t kBytes = 16 + 256;
  static constexpr int kOffset = 128;
  static void pieces(const uint8_t* pb, int h, __m256i& lo, __m256i& hi) {
    lo = load256(pb + 16 + 32 * h);
    hi = load256(pb + 16 + 32 * (h + 4));
  }
};

struct Q4_0Packed {
  static constexpr size_t kBytes = 16 + 128;
  static constexpr int kOffset = 8;
  static void pieces(const uint8_t* pb, int h, __m256i& lo, __m256i& hi) {
    const __m256i chunk = load256(pb + 16 + 32 * h);
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    lo = _mm256_and_si256(chunk, low4);
    hi = _mm256_and_si256(_mm256_srli_epi16(chunk, 4), low4);
  }
};

struct Q5_0Packed {
  static constexpr size_t kBytes = 16 + 32 + 128;
  static constexpr int kOffset = 16;
  static void pieces(const uint8_t* pb, int h, __m256i& lo, __m256i& hi) {
    const __m256i chunk = load256(pb + 48 + 32 * h);
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    const __m256i bit4 = _mm256_set1_epi8(0x10);
    const __m256i fifth_lo = _mm256_maskz_mov_epi8(load_u32(pb + 16 + 4 * h), bit4);
    const __m256i fifth_hi = _mm256_maskz_mov_epi8(load_u32(pb + 16 + 4 * (h + 4)), bit4);
    // (nibbles & 0x0F) | fifth: one vpternlogd (0xEA = (A & B) | C).
    lo = _mm256_ternarylogic_epi32(chunk, low4, fifth_lo, 0xEA);
    hi = _mm256_ternarylogic_epi32(_mm256_srli_epi16(chunk, 4), low4, fifth_hi, 0xEA);
  }
};

constexpr size_t kActBlock = legacy_group_block_bytes(false);  // four rows' d, then their values
constexpr size_t kActQs = legacy_group_qs(false);

// -offset * the sum of the 32 activations at a.
template <class P>
inline int32_t block_start(const uint8_t* a) {
  const __m256i sums = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(1), load256(a));
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(sums), _mm256_extracti128_si256(sums, 1));
  s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
  return -P::kOffset * _mm_cvtsi128_si32(s);
}

// One packed block x K activation rows (their block values at a[k], scales da[k], starts
// start[k]): acc[k] lane r += (d_w[r] * da[k]) * isum(row r, activation k).
template <class P, int K>
inline void packed_block(const uint8_t* pb, const uint8_t* const a[K], const int32_t* start,
                         const float* da, __m256 acc[K]) {
  __m256i even[K], odd[K];
  for (int k = 0; k < K; ++k) {
    even[k] = _mm256_set1_epi32(start[k]);
    odd[k] = _mm256_setzero_si256();
  }
  for (int h = 0; h < 4; ++h) {
    __m256i lo, hi;
    P::pieces(pb, h, lo, hi);
    for (int k = 0; k < K; ++k) {
      even[k] = _mm256_dpbusd_epi32(even[k], lo, broadcast32(a[k] + 4 * h));
      odd[k] = _mm256_dpbusd_epi32(odd[k], hi, broadcast32(a[k] + 16 + 4 * h));
    }
  }
  const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(pb)));
  for (int k = 0; k < K; ++k) {
    const __m256 scale = _mm256_mul_ps(dw, _mm256_set1_ps(da[k]));
    const __m256i isum = _mm256_add_epi32(even[k], odd[k]);
    acc[k] = _mm256_add_ps(acc[k], _mm256_mul_ps(scale, _mm256_cvtepi32_ps(isum)));
  }
}

// One activation row (decoding): every group's rows against row r of the activation group.
template <class P>
void packed_decode(int64_t nb, const uint8_t* packed, int64_t g0, int64_t n_groups,
                   const uint8_t* group, int r, float* out) {
  int32_t* start = reinterpret_cast<int32_t*>(thread_scratch(static_cast<size_t>(nb) * 4));
  const uint8_t* qs = group + kActQs + kQk * r;
  for (int64_t b = 0; b < nb; ++b) start[b] = block_start<P>(qs + b * kActBlock);
  const size_t group_bytes = static_cast<size_t>(nb) * P::kBytes;
  const uint8_t* pg = packed + static_cast<size_t>(g0) * group_bytes;
  StreamPrefetch pf(pg);
  for (int64_t g = 0; g < n_groups; ++g, pg += group_bytes) {
    __m256 acc[1] = {_mm256_setzero_ps()};
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* pb = pg + b * P::kBytes;
      pf.consumed(pb + P::kBytes);
      const uint8_t* a[1] = {qs + b * kActBlock};
      const float da = load_f32(group + b * kActBlock + 4 * r);
      packed_block<P, 1>(pb, a, start + b, &da, acc);
    }
    _mm256_storeu_ps(out + kPackedRows * g, acc[0]);
  }
}

template <class P>
void packed_tile(int64_t n, const uint8_t* packed, int64_t g0, int64_t n_groups,
                 const uint8_t* acts, size_t group_bytes, int64_t a0, int64_t n_act, float* out,
                 size_t out_stride) {
  const int64_t nb = n / kQk;
  if (n_act == 1) {
    packed_decode<P>(nb, packed, g0, n_groups, acts + (a0 / kGroupRows) * group_bytes,
                     static_cast<int>(a0 % kGroupRows), out);
    return;
  }
  // The starts of every activation group of the tile, once: [group][block][row].
  const int64_t end = a0 + n_act;
  const int64_t first = a0 / kGroupRows, last = (end - 1) / kGroupRows;
  int32_t* starts = reinterpret_cast<int32_t*>(
      thread_scratch(static_cast<size_t>((last - first + 1) * nb * kGroupRows) * 4));
  for (int64_t ag = first; ag <= last; ++ag) {
    const uint8_t* group = acts + ag * group_bytes;
    for (int64_t b = 0; b < nb; ++b) {
      for (int k = 0; k < kGroupRows; ++k) {
        starts[((ag - first) * nb + b) * kGroupRows + k] =
            block_start<P>(group + b * kActBlock + kActQs + kQk * k);
      }
    }
  }
  const size_t packed_group = static_cast<size_t>(nb) * P::kBytes;
  for (int64_t g = g0; g < g0 + n_groups; ++g) {
    const uint8_t* pg = packed + static_cast<size_t>(g) * packed_group;
    for (int64_t ag = first; ag <= last; ++ag) {
      const uint8_t* group = acts + ag * group_bytes;
      __m256 acc[kGroupRows] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                                _mm256_setzero_ps()};
      for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* ab = group + b * kActBlock;
        const uint8_t* a[kGroupRows] = {ab + kActQs, ab + kActQs + kQk, ab + kActQs + 2 * kQk,
                                        ab + kActQs + 3 * kQk};
        float da[kGroupRows];
        for (int k = 0; k < kGroupRows; ++k) da[k] = load_f32(ab + 4 * k);
        packed_block<P, kGroupRows>(pg + b * P::kBytes, a,
                                    starts + ((ag - first) * nb + b) * kGroupRows, da, acc);
      }
      for (int k = 0; k < kGroupRows; ++k) {
        const int64_t row = ag * kGroupRows + k;
        if (row < a0 || row >= end) continue;
        _mm256_storeu_ps(out + (row - a0) * out_stride + kPackedRows * (g - g0), acc[k]);
      }
    }
  }
}

// ---- Q4_K -------------------------------------------------------------------------------------
// Per super-block and activation row: for each sub-block j, eight vpdpbusd give lane r row r's
// sum of u * q over the sub-block; T = sum_j sc_j * that (vpmulld), M = sum_j m_j * (the
// activation's sum over sub-block j) through vpmaddwd on pairs of sub-blocks; then
// acc += d_a * d_w * T - d_a * dmin_w * M, as the scalar kernel does per super-block.

constexpr size_t kQ4KPackedBytes = 16 + 16 + 96 + 1024;

// The 6-bit scale (or minimum) of sub-block j of the eight rows, lane r for row r, from the rows'
// scale words w0, w1, w2 (ggml's get_scale_min_k4 lane by lane): the scales take (w0, w2, shift
// 0), the minimums (w1, w2, shift 4).
template <int kShift>
inline __m256i q4_k_scale(int j, __m256i w01, __m256i w2) {
  const __m256i m63 = _mm256_set1_epi32(63), m15 = _mm256_set1_epi32(15);
  if (j < 4) return _mm256_and_si256(_mm256_srli_epi32(w01, 8 * j), m63);
  const int i = j - 4;
  const __m256i high = _mm256_and_si256(_mm256_srli_epi32(w01, 8 * i + 6), _mm256_set1_epi32(3));
  return _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(w2, 8 * i + kShift), m15),
                         _mm256_slli_epi32(high, 4));
}

// One packed super-block x K Q8_K activation blocks (act[k]): acc[k] lane r += row r's value.
// With `values` set, the block's unsigned values are read from there, unpacked already by
// unpack_q4_k_values; else from the nibbles at pb. The scales are formed where they are used, not
// all up front, so that fewer vectors are live beside four activation rows' sums.
template <int K>
inline void q4_k_block(const uint8_t* pb, const uint8_t* values, const uint8_t* const act[K],
                       __m256 acc[K]) {
  const __m256i w0 = load256(pb + 32), w1 = load256(pb + 64), w2 = load256(pb + 96);
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  __m256i t[K];
  for (int a = 0; a < K; ++a) t[a] = _mm256_setzero_si256();
  for (int k = 0; k < 4; ++k) {
    __m256i lo[K], hi[K];  // sub-blocks 2k and 2k + 1
    for (int a = 0; a < K; ++a) lo[a] = hi[a] = _mm256_setzero_si256();
    for (int h = 0; h < 8; ++h) {
      __m256i u_lo, u_hi;
      if (values != nullptr) {
        u_lo = load256(values + 512 * k + 64 * h);
        u_hi = load256(values + 512 * k + 64 * h + 32);
      } else {
        const __m256i chunk = load256(pb + 128 + 256 * k + 32 * h);
        u_lo = _mm256_and_si256(chunk, low4);
        u_hi = _mm256_and_si256(_mm256_srli_epi16(chunk, 4), low4);
      }
      for (int a = 0; a < K; ++a) {
        const uint8_t* q = act[a] + kQ8_KQs + 64 * k + 4 * h;
        lo[a] = _mm256_dpbusd_epi32(lo[a], u_lo, broadcast32(q));
        hi[a] = _mm256_dpbusd_epi32(hi[a], u_hi, broadcast32(q + 32));
      }
    }
    const __m256i sc_lo = q4_k_scale<0>(2 * k, w0, w2), sc_hi = q4_k_scale<0>(2 * k + 1, w0, w2);
    for (int a = 0; a < K; ++a) {
      t[a] = _mm256_add_epi32(t[a], _mm256_add_epi32(_mm256_mullo_epi32(lo[a], sc_lo),
                                                     _mm256_mullo_epi32(hi[a], sc_hi)));
    }
  }
  // The minimums in int16 pairs m_2i | m_2i+1 << 16, against the activation's sums over
  // sub-blocks 2i and 2i + 1 (two bsums each) in the same pairs: vpmaddwd adds both products.
  __m256i min_pairs[4];
  for (int i = 0; i < 4; ++i) {
    min_pairs[i] = _mm256_or_si256(q4_k_scale<4>(2 * i, w1, w2),
                                   _mm256_slli_epi32(q4_k_scale<4>(2 * i + 1, w1, w2), 16));
  }
  const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(pb)));
  const __m256 dminw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(pb + 16)));
  for (int a = 0; a < K; ++a) {
    const uint8_t* bsums = act[a] + kQ8_KBsums;
    __m256i m = _mm256_setzero_si256();
    for (int i = 0; i < 4; ++i) {
      const __m256i pair = _mm256_set1_epi32(static_cast<int>(q8_k_sum_pair(bsums, i)));
      m = _mm256_add_epi32(m, _mm256_madd_epi16(min_pairs[i], pair));
    }
    const __m256 da = _mm256_set1_ps(load_f32(act[a]));
    const __m256 value =
        _mm256_sub_ps(_mm256_mul_ps(_mm256_mul_ps(da, dw), _mm256_cvtepi32_ps(t[a])),
                      _mm256_mul_ps(_mm256_mul_ps(da, dminw), _mm256_cvtepi32_ps(m)));
    acc[a] = _mm256_add_ps(acc[a], value);
  }
}

// The unsigned values of nb packed super-blocks of one group, as q4_k_block reads them: per
// block 2,048 bytes, [sub-block pair k][chunk h][low, high nibbles][32 bytes].
inline void unpack_q4_k_values(int64_t nb, const uint8_t* pg, uint8_t* dst) {
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  for (int64_t b = 0; b < nb; ++b, dst += 2048) {
    const uint8_t* chunks = pg + b * kQ4KPackedBytes + 128;
    for (int c = 0; c < 32; ++c) {
      const __m256i chunk = load256(chunks + 32 * c);
      _mm256_store_si256(reinterpret_cast<__m256i*>(dst + 64 * c), _mm256_and_si256(chunk, low4));
      _mm256_store_si256(reinterpret_cast<__m256i*>(dst + 64 * c + 32),
                         _mm256_and_si256(_mm256_srli_epi16(chunk, 4), low4));
    }
  }
}

void packed_tile_q4_k(int64_t n, const uint8_t* packed, int64_t g0, int64_t n_groups,
                      const uint8_t* acts, size_t group_bytes, int64_t a0, int64_t n_act,
                      float* out, size_t out_stride) {
  const int64_t nb = n / kQkK;
  const size_t packed_group = static_cast<size_t>(nb) * kQ4KPackedBytes;
  const uint8_t* first = packed + static_cast<size_t>(g0) * packed_group;
  if (n_act == 1) {
    const uint8_t* row = acts + a0 * group_bytes;
    StreamPrefetch pf(first);
    for (int64_t g = 0; g < n_groups; ++g) {
      const uint8_t* pg = first + static_cast<size_t>(g) * packed_group;
      __m256 acc[1] = {_mm256_setzero_ps()};
      for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* pb = pg + b * kQ4KPackedBytes;
        pf.consumed(pb + kQ4KPackedBytes);
        const uint8_t* act[1] = {row + b * kQ8_KBytes};
        q4_k_block<1>(pb, nullptr, act, acc);
      }
      _mm256_storeu_ps(out + kPackedRows * g, acc[0]);
    }
    return;
  }
  // A batch: each group's values unpacked once, for all the tile's activation rows (unpacking
  // them for every four rows cost the prefill ~4%).
  uint8_t* values = thread_scratch(static_cast<size_t>(nb) * 2048);
  for (int64_t g = 0; g < n_groups; ++g) {
    const uint8_t* pg = first + static_cast<size_t>(g) * packed_group;
    unpack_q4_k_values(nb, pg, values);
    for (int64_t c = 0; c < n_act; c += kMaxActRows) {
      const int64_t count = n_act - c < kMaxActRows ? n_act - c : kMaxActRows;
      __m256 acc[kMaxActRows] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                                 _mm256_setzero_ps()};
      for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* act[kMaxActRows];  // rows past the end repeat the last one
        for (int k = 0; k < kMaxActRows; ++k) {
          act[k] = acts + (a0 + c + (k < count ? k : count - 1)) * group_bytes + b * kQ8_KBytes;
        }
        q4_k_block<kMaxActRows>(pg + b * kQ4KPackedBytes, values + b * 2048, act, acc);
      }
      for (int64_t k = 0; k < count; ++k) {
        _mm256_storeu_ps(out + (c + k) * out_stride + kPackedRows * g, acc[k]);
      }
    }
  }
}

}  // namespace

namespace detail {

PackedTileFn avx512_vnni_packed_kernel(DType type) {
  switch (type) {
    case DType::kQ8_0:
      return packed_tile<Q8_0Packed>;
    case DType::kQ4_0:
      return packed_tile<Q4_0Packed>;
    case DType::kQ5_0:
      return packed_tile<Q5_0Packed>;
    case DType::kQ4_K:
      return packed_tile_q4_k;
    default:
      return nullptr;
  }
}

}  // namespace detail
}  // namespace ragkit::embed::ops

RAGKIT_END_TARGET()
