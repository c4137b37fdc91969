// The 256-bit SIMD dot kernels, written once and compiled three times: quant_dot_avx2.cpp includes
// this file under `#pragma GCC target("avx2,fma,f16c")`, quant_dot_avx512.cpp and
// quant_dot_avx512vnni.cpp under AVX-512 targets (EVEX encodings, 32 registers; with
// kVnni = true the u8 x s8 sums of the legacy types become vpdpbusd).
//
// The legacy types have two kernels: four weight rows x one activation row (decoding) and two or
// four weight rows x the four activation rows of a group (batches); k-quants and F16/BF16 take one
// weight row and up to four activation rows. Whatever is unpacked is used for every row it meets.
// Sums of integer products are exact and reduced to one integer per block (legacy) or
// super-block (k-quants), which then becomes float exactly as in the scalar kernels of
// quant_dot.cpp — the same operations in the same order, no FMA — so results are bit-identical
// across instruction sets.
//
// The decode kernels (one activation row), and the F16/BF16 and k-quant kernels in the first pass
// of a batch, fetch the weight rows ahead of use as they go (StreamPrefetch, stream_prefetch.h;
// a StreamPrefetch* of nullptr says the rows are cached already). The legacy types' batch kernels
// do not prefetch.
//
// Unsigned x signed byte products go through vpmaddubsw (AVX2), which saturates its int16 pair
// sums: safe here because one side is always at most 128 in magnitude and the activations at
// most 127 (2 * 128 * 127 < 32768).
//
// Include only from those files, inside namespace ragkit::embed::ops, after <immintrin.h> and
// quant_dot_common.h, with `using namespace detail;`.

namespace {

inline __m256i load256(const uint8_t* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}
inline __m128i load128(const uint8_t* p) {
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
}
inline float half_f16c(const uint8_t* p) { return _cvtsh_ss(load_u16(p)); }

inline float hsum_ps(__m256 x) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Sums of four adjacent u8 * s8 products, one per int32 lane.
template <bool kVnni>
inline __m256i dot_u8s8(__m256i u, __m256i s) {
  if constexpr (kVnni) {
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
  } else {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
  }
}

// Pairs of u8 * s8 products summed, then multiplied by int16 scales and summed in pairs again:
// int32 lane k = sum of bytes 4k..4k+3 weighted by the scale in int16 lanes 2k, 2k+1.
inline __m256i dot_u8s8_scaled(__m256i u, __m256i s, __m256i scale16) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), scale16);
}

// The 16 bytes at p in both halves, the upper half shifted right by 4: the nibbles of
// nibbles_32 in the low four bits of each byte, not yet masked. (One broadcast load, and a
// per-lane shift count: no cross-lane shuffle, which competes for one port on Intel cores.)
inline __m256i unmasked_nibbles_32(const uint8_t* p) {
  const __m256i both = _mm256_broadcastsi128_si256(load128(p));
  return _mm256_srlv_epi64(both, _mm256_setr_epi64x(0, 0, 4, 4));
}

// 32 nibbles of 16 bytes: values 0..15 from the low nibbles, 16..31 from the high ones.
inline __m256i nibbles_32(const uint8_t* p) {
  return _mm256_and_si256(unmasked_nibbles_32(p), _mm256_set1_epi8(0x0F));
}

// Byte i = 0xFF where bit i of `bits` is set, else 0. (With AVX-512BW the fifth bits of Q5_0/Q5_1
// are applied through a byte mask instead: RAGKIT_SIMD_BYTE_MASKS.)
inline __m256i bytes_from_bits_32(uint32_t bits) {
  const __m256i spread = _mm256_shuffle_epi8(
      _mm256_set1_epi32(static_cast<int>(bits)),
      _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0));
  const __m256i select = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201ull));
  return _mm256_cmpeq_epi8(_mm256_and_si256(spread, select), select);
}

// ---- F16 and BF16 -----------------------------------------------------------------------------

inline __m256 widen8_f16(const uint8_t* p) { return _mm256_cvtph_ps(load128(p)); }
inline __m256 widen8_bf16(const uint8_t* p) {
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(load128(p)), 16));
}
inline float widen1_bf16(const uint8_t* p) {
  return bits_float(static_cast<uint32_t>(load_u16(p)) << 16);
}
template <bool kBf16>
inline __m256 widen8(const uint8_t* p) {
  return kBf16 ? widen8_bf16(p) : widen8_f16(p);
}

template <bool kBf16, int N>
void dot_half_n(int64_t n, const uint8_t* w, const uint8_t* act, size_t stride, float* out,
                StreamPrefetch* pf) {
  // Four independent accumulators per row hide the FMA latency. The same for every N, so that a
  // row gets the same result whatever batch it is in.
  constexpr int kU = 4;
  __m256 acc[kU][N];
  for (int u = 0; u < kU; ++u) {
    for (int j = 0; j < N; ++j) acc[u][j] = _mm256_setzero_ps();
  }
  int64_t i = 0;
  for (; i + 8 * kU <= n; i += 8 * kU) {
    if (pf != nullptr) pf->consumed(w + 2 * (i + 8 * kU));
    for (int u = 0; u < kU; ++u) {
      const __m256 wv = widen8<kBf16>(w + 2 * (i + 8 * u));
      for (int j = 0; j < N; ++j) {
        acc[u][j] =
            _mm256_fmadd_ps(wv, widen8<kBf16>(act + j * stride + 2 * (i + 8 * u)), acc[u][j]);
      }
    }
  }
  for (; i + 8 <= n; i += 8) {
    const __m256 wv = widen8<kBf16>(w + 2 * i);
    for (int j = 0; j < N; ++j) {
      acc[0][j] = _mm256_fmadd_ps(wv, widen8<kBf16>(act + j * stride + 2 * i), acc[0][j]);
    }
  }
  if (pf != nullptr) pf->consumed(w + 2 * n);
  for (int j = 0; j < N; ++j) {
    __m256 s = acc[0][j];
    for (int u = 1; u < kU; ++u) s = _mm256_add_ps(s, acc[u][j]);
    float tail = 0;
    for (int64_t t = i; t < n; ++t) {
      const uint8_t* a = act + j * stride + 2 * t;
      tail += kBf16 ? widen1_bf16(w + 2 * t) * widen1_bf16(a) : half_f16c(w + 2 * t) * half_f16c(a);
    }
    out[j] = hsum_ps(s) + tail;
  }
}

template <bool kBf16>
void widen_row(const void* src, float* dst, int64_t n) {
  const uint8_t* p = static_cast<const uint8_t*>(src);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(dst + i, kBf16 ? widen8_bf16(p + 2 * i) : widen8_f16(p + 2 * i));
  }
  for (; i < n; ++i) dst[i] = kBf16 ? widen1_bf16(p + 2 * i) : half_f16c(p + 2 * i);
}

// x -> nearest F16 (vcvtps2ph rounds to nearest even, like fp32_to_fp16) -> float.
void round_f16_row(const float* x, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT);
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
  }
  for (; i < n; ++i) dst[i] = _cvtsh_ss(_cvtss_sh(x[i], _MM_FROUND_TO_NEAREST_INT));
}

// x -> the bits of the nearest F16 (vcvtps2ph rounds to nearest even, like fp32_to_fp16).
void narrow_f16_row(const float* x, uint16_t* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
  }
  for (; i < n; ++i) dst[i] = static_cast<uint16_t>(_cvtss_sh(x[i], _MM_FROUND_TO_NEAREST_INT));
}

// ---- Activation converters ---------------------------------------------------------------------
// The same numbers as the scalar converters of quant_dot.cpp: the maxima are exact, the scales
// are the same float operations, vcvtps2dq rounds half to even like nearest_int, and vcvtps2ph
// rounds to nearest even like fp32_to_fp16.

inline float hmax_ps(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

inline uint16_t to_half(float f) {
  return static_cast<uint16_t>(_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT));
}

// 32 int32 (four vectors) to int8 in order, saturating.
inline void store_int8x32(int8_t* dst, __m256i i0, __m256i i1, __m256i i2, __m256i i3) {
  const __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst),
                      _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
}

// One Q8_0/Q8_1 block: d = amax / 127 (F16), q = round(x * 127 / amax), s = F16(d * sum(q)).
inline void q8_block(const float* x, uint16_t* d_half, uint16_t* s_half, int8_t* qs) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  const __m256 v0 = _mm256_loadu_ps(x), v1 = _mm256_loadu_ps(x + 8);
  const __m256 v2 = _mm256_loadu_ps(x + 16), v3 = _mm256_loadu_ps(x + 24);
  const __m256 m =
      _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v0), _mm256_andnot_ps(sign, v1)),
                    _mm256_max_ps(_mm256_andnot_ps(sign, v2), _mm256_andnot_ps(sign, v3)));
  const float amax = hmax_ps(m);
  const float d = amax / 127.0f;
  const __m256 id = _mm256_set1_ps(amax != 0.0f ? 127.0f / amax : 0.0f);
  const __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(v0, id));
  const __m256i i1 = _mm256_cvtps_epi32(_mm256_mul_ps(v1, id));
  const __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(v2, id));
  const __m256i i3 = _mm256_cvtps_epi32(_mm256_mul_ps(v3, id));
  store_int8x32(qs, i0, i1, i2, i3);
  const __m256i sum = _mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3));
  __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1));
  s4 = _mm_add_epi32(s4, _mm_unpackhi_epi64(s4, s4));
  s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xB1));
  *d_half = to_half(d);
  *s_half = to_half(d * static_cast<float>(_mm_cvtsi128_si32(s4)));
}

void prepare_legacy_group(const float* x, int64_t n, int count, bool with_sum, uint8_t* out) {
  const size_t block_bytes = legacy_group_block_bytes(with_sum);
  const size_t qs = legacy_group_qs(with_sum);
  for (int64_t b = 0; b < n / kQk; ++b) {
    uint8_t* gb = out + b * block_bytes;
    uint16_t dh[kGroupRows] = {}, sh[kGroupRows] = {};
    for (int r = 0; r < kGroupRows; ++r) {
      int8_t* q = reinterpret_cast<int8_t*>(gb + qs + kQk * r);
      if (r < count) {
        q8_block(x + r * n + b * kQk, &dh[r], &sh[r], q);
      } else {
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(q), _mm256_setzero_si256());
      }
    }
    const auto widen4 = [](const uint16_t* h) {
      return _mm_cvtph_ps(_mm_setr_epi16(static_cast<int16_t>(h[0]), static_cast<int16_t>(h[1]),
                                         static_cast<int16_t>(h[2]), static_cast<int16_t>(h[3]), 0,
                                         0, 0, 0));
    };
    _mm_storeu_ps(reinterpret_cast<float*>(gb), widen4(dh));
    if (with_sum) _mm_storeu_ps(reinterpret_cast<float*>(gb + 16), widen4(sh));
  }
}

// Q8_K (ggml's quantize_row_q8_K_ref): m = the first value of largest magnitude,
// q = min(127, round(-127 / m * x)), d = 1 / iscale, bsums per 16 values.
void quantize_q8_k_row(const float* x, uint8_t* dst, int64_t n) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  for (int64_t b = 0; b < n / kQkK; ++b, x += kQkK, dst += kQ8_KBytes) {
    __m256 m = _mm256_setzero_ps();
    for (int k = 0; k < kQkK; k += 8)
      m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + k)));
    const float amax = hmax_ps(m);
    if (amax == 0.0f) {
      std::memset(dst, 0, kQ8_KBytes);
      continue;
    }
    float max = 0.0f;
    const __m256 target = _mm256_set1_ps(amax);
    for (int k = 0; k < kQkK; k += 8) {
      const int hits = _mm256_movemask_ps(
          _mm256_cmp_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + k)), target, _CMP_EQ_OQ));
      if (hits != 0) {
        max = x[k + __builtin_ctz(static_cast<unsigned>(hits))];
        break;
      }
    }
    const float iscale = -127.0f / max;
    const __m256 scale = _mm256_set1_ps(iscale);
    int8_t* q = reinterpret_cast<int8_t*>(dst + kQ8_KQs);
    for (int k = 0; k < kQkK; k += 32) {
      __m256i i[4];
      for (int v = 0; v < 4; ++v) {
        i[v] = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + k + 8 * v), scale));
      }
      store_int8x32(q + k, i[0], i[1], i[2], i[3]);  // saturates at 127 like the min()
    }
    // Sums of 16 int8: widen to int16 and add pairs.
    for (int k = 0; k < kQkK; k += 32) {
      const __m256i q16a = _mm256_cvtepi8_epi16(load128(reinterpret_cast<uint8_t*>(q + k)));
      const __m256i q16b = _mm256_cvtepi8_epi16(load128(reinterpret_cast<uint8_t*>(q + k + 16)));
      const __m256i ones = _mm256_set1_epi16(1);
      const __m256i sa = _mm256_madd_epi16(q16a, ones), sb = _mm256_madd_epi16(q16b, ones);
      // hadd: lanes [a01 a23 b01 b23 | a45 a67 b45 b67]; again: [a0-3 b0-3 . . | a4-7 b4-7 . .]
      const __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(sa, sb), _mm256_setzero_si256());
      const __m128i s2 = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
      const int16_t sums[2] = {static_cast<int16_t>(_mm_cvtsi128_si32(s2)),
                               static_cast<int16_t>(_mm_extract_epi32(s2, 1))};
      std::memcpy(dst + kQ8_KBsums + 2 * (k / 16), sums, 4);
    }
    const float d = 1.0f / iscale;
    std::memcpy(dst, &d, 4);
  }
}

// ---- Legacy 32-value blocks -------------------------------------------------------------------
// A weight format: bytes per block, whether it has a block minimum m (the _1 types, whose
// activations are Q8_1 and carry s = d_a * sum(q_a)), and how to unpack 32 values as int8 (for
// Q4_1/Q5_1 non-negative). Products use the sign trick |w| * (a * sign(w)) for every type.

// 32 five-bit values 0..31 of Q5_0/Q5_1: the 16 bytes of nibbles at `nibbles`, plus 16 where
// bit i of the 32-bit word at `bits` is set.
inline __m256i five_bit_values(const uint8_t* bits, const uint8_t* nibbles) {
#if defined(RAGKIT_SIMD_BYTE_MASKS)
  const __m256i fifth =
      _mm256_maskz_mov_epi8(static_cast<__mmask32>(load_u32(bits)), _mm256_set1_epi8(0x10));
  // (nibbles & 0x0F) | fifth in one vpternlogd (0xEA = (A & B) | C): GCC had turned a masked
  // add of 0x10 to nibbles_32 into a register copy and the add, one more instruction per block.
  return _mm256_ternarylogic_epi32(unmasked_nibbles_32(nibbles), _mm256_set1_epi8(0x0F), fifth,
                                   0xEA);
#else
  const __m256i high = _mm256_and_si256(bytes_from_bits_32(load_u32(bits)), _mm256_set1_epi8(0x10));
  return _mm256_or_si256(nibbles_32(nibbles), high);
#endif
}

// Every type but Q8_0 stores its values as unsigned bytes u, the value being u - kOffset (and
// kUnsigned says so): the decode kernel multiplies u itself (u8 x s8, no sign trick) and takes
// kOffset * sum(a) off once per block (legacy_row_decode).
struct Q8_0Weights {
  static constexpr size_t kBytes = kQ8_0Bytes;
  static constexpr bool kWithMin = false;
  static constexpr bool kUnsigned = false;
  static constexpr int kOffset = 0;
  static __m256i values(const uint8_t* b) { return load256(b + 2); }
  // With VNNI (no 16-bit saturation), the decode kernel takes u = q ^ 0x80 = q + 128 as unsigned
  // bytes and 128 * sum(a) off once per block: one xor instead of two sign operations.
  static constexpr int kVnniOffset = 128;
  static __m256i vnni_unsigned_values(const uint8_t* b) {
    return _mm256_xor_si256(load256(b + 2), _mm256_set1_epi8(static_cast<char>(0x80)));
  }
};
struct Q4_0Weights {
  static constexpr size_t kBytes = kQ4_0Bytes;
  static constexpr bool kWithMin = false;
  static constexpr bool kUnsigned = true;
  static constexpr int kOffset = 8;
  static __m256i unsigned_values(const uint8_t* b) { return nibbles_32(b + 2); }
  static __m256i values(const uint8_t* b) {
    return _mm256_sub_epi8(nibbles_32(b + 2), _mm256_set1_epi8(8));
  }
};
struct Q5_0Weights {
  static constexpr size_t kBytes = kQ5_0Bytes;
  static constexpr bool kWithMin = false;
  static constexpr bool kUnsigned = true;
  static constexpr int kOffset = 16;
  static __m256i unsigned_values(const uint8_t* b) { return five_bit_values(b + 2, b + 6); }
  // (nibble | fifth bit << 4) - 16 is the nibble itself when the bit is set, nibble | 0xF0 as
  // int8 when it is clear.
  static __m256i values(const uint8_t* b) {
#if defined(RAGKIT_SIMD_BYTE_MASKS)
    const __m256i nibbles = nibbles_32(b + 6);
    return _mm256_mask_mov_epi8(_mm256_or_si256(nibbles, _mm256_set1_epi8(static_cast<char>(0xF0))),
                                static_cast<__mmask32>(load_u32(b + 2)), nibbles);
#else
    const __m256i high = _mm256_andnot_si256(bytes_from_bits_32(load_u32(b + 2)),
                                             _mm256_set1_epi8(static_cast<char>(0xF0)));
    return _mm256_or_si256(nibbles_32(b + 6), high);
#endif
  }
};
struct Q4_1Weights {
  static constexpr size_t kBytes = kQ4_1Bytes;
  static constexpr bool kWithMin = true;
  static constexpr bool kUnsigned = true;
  static constexpr int kOffset = 0;
  static __m256i values(const uint8_t* b) { return nibbles_32(b + 4); }
  static __m256i unsigned_values(const uint8_t* b) { return values(b); }
};
struct Q5_1Weights {
  static constexpr size_t kBytes = kQ5_1Bytes;
  static constexpr bool kWithMin = true;
  static constexpr bool kUnsigned = true;
  static constexpr int kOffset = 0;
  static __m256i unsigned_values(const uint8_t* b) { return values(b); }
  static __m256i values(const uint8_t* b) { return five_bit_values(b + 4, b + 8); }
};

// Lane k = the sum of all eight lanes of v_k.
inline __m128i reduce4_epi32(__m256i v0, __m256i v1, __m256i v2, __m256i v3) {
  const __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(v0, v1), _mm256_hadd_epi32(v2, v3));
  return _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

// Four F16 values from four addresses, widened.
inline __m128 gather4_half(const uint8_t* p0, const uint8_t* p1, const uint8_t* p2,
                           const uint8_t* p3) {
  const __m128i h = _mm_setr_epi16(
      static_cast<int16_t>(load_u16(p0)), static_cast<int16_t>(load_u16(p1)),
      static_cast<int16_t>(load_u16(p2)), static_cast<int16_t>(load_u16(p3)), 0, 0, 0, 0);
  return _mm_cvtph_ps(h);
}

// Integer sums of one weight block (unpacked q, |q| in u) with one activation block.
template <bool kVnni>
inline __m256i block_isum(__m256i q, __m256i u, const uint8_t* a) {
  return dot_u8s8<kVnni>(u, _mm256_sign_epi8(load256(a), q));
}

// One weight row x activation row r of a group, for decoding. The block sums stay in eight float
// lanes (acc += d_w * d_a * isum) and are added across lanes once per row, as llama.cpp's kernels
// do: an earlier version reduced four rows' sums horizontally in every block, and that
// arithmetic, not memory, set the decode speed (Q8_0: 6 GB/s per thread from memory). Two
// accumulators for alternate blocks, both in registers (indexed by block parity they lived on the
// stack, and every block waited for a store to reach the next load: 18 vs 31 GB/s in cache).
// One row at a time keeps the weights one sequential stream: two rows interleaved shared the
// activation loads but halved the speed from memory. The last bits can differ from the batch
// kernels, which sum in another order.
template <bool kVnni, class W>
float legacy_row_act1(int64_t nb, const uint8_t* w, const uint8_t* group, int r,
                      StreamPrefetch& pf) {
  constexpr size_t kActBlock = legacy_group_block_bytes(W::kWithMin);
  constexpr size_t kActQs = legacy_group_qs(W::kWithMin);
  float mins = 0.0f;
  const auto block = [&](int64_t b, __m256 acc) {
    const uint8_t* ab = group + b * kActBlock;
    const uint8_t* wb = w + b * W::kBytes;
    const __m256i q = W::values(wb);
    const __m256i isum = block_isum<kVnni>(q, _mm256_sign_epi8(q, q), ab + kActQs + kQk * r);
    const float scale = half_f16c(wb) * load_f32(ab + 4 * r);
    if constexpr (W::kWithMin) mins += half_f16c(wb + 2) * load_f32(ab + 16 + 4 * r);
    return _mm256_fmadd_ps(_mm256_set1_ps(scale), _mm256_cvtepi32_ps(isum), acc);
  };
  __m256 even = _mm256_setzero_ps(), odd = _mm256_setzero_ps();
  int64_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    if (b % 8 == 0) pf.consumed(w + (b + 8) * W::kBytes);
    even = block(b, even);
    odd = block(b + 1, odd);
  }
  pf.consumed(w + nb * W::kBytes);
  if (b < nb) even = block(b, even);
  return hsum_ps(_mm256_add_ps(even, odd)) + mins;
}

// The F16 values at p, p + stride, ..., p + 7 * stride, widened: eight 16-bit loads put together
// in one vector and converted at once. (A vpgatherdd of the eight 32-bit words cost more: the
// decode kernels read one matrix in cache at, Q8_0 / Q4_0 / Q5_0, 26.4 / 14.4 / 16.0 GB/s with
// it and 28.0 / 15.7 / 16.7 without, and Q5_0 from memory 9.4 -> 10.2 (ragkit_quant_dot_bench,
// one thread, AVX-512 VNNI on an Intel Xeon VM); in `rag bench generate` the Q4_K file's Q5_0
// passes took 11% fewer cycles.)
inline __m256 load8_half(const uint8_t* p, int stride) {
  const auto h = [&](int i) { return static_cast<int16_t>(load_u16(p + i * stride)); };
  return _mm256_cvtph_ps(_mm_setr_epi16(h(0), h(1), h(2), h(3), h(4), h(5), h(6), h(7)));
}

// What the decode kernel reads of activation row r of a group, made once per tile: the block
// scales d (and for the _1 types the sums s) contiguous, and for the types with an offset the
// lanes of -kOffset * sum(a) per block in the lane layout of dot_u8s8 (lane k: bytes 4k..4k+3).
// Rows of up to kMaxDecodeBlocks blocks (16,384 values; 20 KB on the stack); longer rows take
// legacy_row_act1.
constexpr int64_t kMaxDecodeBlocks = 512;
// Whether W's decode kernel with VNNI reads its signed bytes as unsigned ones (Q8_0Weights).
template <class W>
constexpr bool kVnniUnsigned = requires {
  W::kVnniOffset;
};

template <class W>
struct DecodeActivation {
  static constexpr bool kOffsets = (W::kUnsigned && W::kOffset != 0) || kVnniUnsigned<W>;
  alignas(32) float d[kMaxDecodeBlocks];
  alignas(32) float s[W::kWithMin ? kMaxDecodeBlocks : 1];
  __m256i offsets[kOffsets ? kMaxDecodeBlocks : 1];
  const uint8_t* qs = nullptr;  // block b's 32 values at qs + b * kActBlock

  static constexpr size_t kActBlock = legacy_group_block_bytes(W::kWithMin);

  // What the kernel's unsigned bytes carry above the values.
  static constexpr int offset() {
    if constexpr (kVnniUnsigned<W>) {
      return W::kVnniOffset;
    } else {
      return W::kOffset;
    }
  }

  template <bool kVnni>
  void prepare(int64_t nb, const uint8_t* group, int r) {
    qs = group + legacy_group_qs(W::kWithMin) + kQk * r;
    for (int64_t b = 0; b < nb; ++b) {
      d[b] = load_f32(group + b * kActBlock + 4 * r);
      if constexpr (W::kWithMin) s[b] = load_f32(group + b * kActBlock + 16 + 4 * r);
      // (Without VNNI a kVnniUnsigned type keeps the sign trick: no offsets.)
      if constexpr (kOffsets && (kVnni || !kVnniUnsigned<W>)) {
        const __m256i sums = dot_u8s8<kVnni>(_mm256_set1_epi8(static_cast<char>(offset())),
                                             load256(qs + b * kActBlock));
        offsets[b] = _mm256_sub_epi32(_mm256_setzero_si256(), sums);
      }
    }
  }
};

// One weight row x a prepared activation row, for decoding: legacy_row_act1's sums in the same
// order (so the same results, but for the _1 types' minimum terms, now added eight at a time),
// with fewer instructions per block:
//   - the types with unsigned values (kUnsigned) multiply u = value + kOffset itself (u8 x s8,
//     no sign trick), the integer lanes starting from the block's -kOffset * sum(a);
//   - the weight scales of eight blocks are loaded (load8_half) and widened at once and
//     multiplied by the eight contiguous activation scales; each block then takes its lane
//     (vpermps) instead of a scalar load, conversion, multiply and broadcast.
// Q5_0 went from ~21 to ~14 instructions per 32 weights.
template <bool kVnni, class W>
float legacy_row_decode(int64_t nb, const uint8_t* w, const DecodeActivation<W>& act,
                        StreamPrefetch& pf) {
  constexpr size_t kActBlock = DecodeActivation<W>::kActBlock;
  const auto isum_of = [&](int64_t b) {
    const uint8_t* wb = w + b * W::kBytes;
    const __m256i a = load256(act.qs + b * kActBlock);
    if constexpr (kVnni && kVnniUnsigned<W>) {
      return _mm256_dpbusd_epi32(act.offsets[b], W::vnni_unsigned_values(wb), a);
    } else if constexpr (!W::kUnsigned) {
      const __m256i q = W::values(wb);
      return dot_u8s8<kVnni>(_mm256_sign_epi8(q, q), _mm256_sign_epi8(a, q));
    } else if constexpr (W::kOffset == 0) {
      return dot_u8s8<kVnni>(W::unsigned_values(wb), a);
    } else if constexpr (kVnni) {
      return _mm256_dpbusd_epi32(act.offsets[b], W::unsigned_values(wb), a);
    } else {
      return _mm256_add_epi32(dot_u8s8<kVnni>(W::unsigned_values(wb), a), act.offsets[b]);
    }
  };
  __m256 even = _mm256_setzero_ps(), odd = _mm256_setzero_ps(), mins = _mm256_setzero_ps();
  int64_t b = 0;
  for (; b + 8 <= nb; b += 8) {
    const uint8_t* wb = w + b * W::kBytes;
    pf.consumed(wb + 8 * W::kBytes);
    const __m256 scales =
        _mm256_mul_ps(load8_half(wb, static_cast<int>(W::kBytes)), _mm256_load_ps(act.d + b));
    if constexpr (W::kWithMin) {
      mins = _mm256_fmadd_ps(load8_half(wb + 2, static_cast<int>(W::kBytes)),
                             _mm256_load_ps(act.s + b), mins);
    }
    for (int k = 0; k < 8; k += 2) {
      const __m256 s0 = _mm256_permutevar8x32_ps(scales, _mm256_set1_epi32(k));
      const __m256 s1 = _mm256_permutevar8x32_ps(scales, _mm256_set1_epi32(k + 1));
      even = _mm256_fmadd_ps(s0, _mm256_cvtepi32_ps(isum_of(b + k)), even);
      odd = _mm256_fmadd_ps(s1, _mm256_cvtepi32_ps(isum_of(b + k + 1)), odd);
    }
  }
  float tail_mins = 0.0f;
  pf.consumed(w + nb * W::kBytes);
  for (; b < nb; ++b) {
    const uint8_t* wb = w + b * W::kBytes;
    const __m256 scale = _mm256_set1_ps(half_f16c(wb) * act.d[b]);
    __m256& acc = b % 2 == 0 ? even : odd;
    acc = _mm256_fmadd_ps(scale, _mm256_cvtepi32_ps(isum_of(b)), acc);
    if constexpr (W::kWithMin) tail_mins += half_f16c(wb + 2) * act.s[b];
  }
  const float total = hsum_ps(_mm256_add_ps(even, odd));
  if constexpr (W::kWithMin) return total + (hsum_ps(mins) + tail_mins);
  return total;
}

// The F16 values at w[i] + offset, i < R (2 or 4), widened, in lanes 0..R-1.
template <int R>
inline __m128 gather_half(const uint8_t* const* w, size_t offset) {
  const auto h = [&](int i) { return static_cast<int16_t>(load_u16(w[i] + offset)); };
  if constexpr (R == 2) {
    return _mm_cvtph_ps(_mm_setr_epi16(h(0), h(1), 0, 0, 0, 0, 0, 0));
  } else {
    return _mm_cvtph_ps(_mm_setr_epi16(h(0), h(1), h(2), h(3), 0, 0, 0, 0));
  }
}

// R (2 or 4) weight rows x the four activation rows of a group: out[4 * i + k] = dot(w_i, row k).
// The activation blocks are loaded once for all R weight rows, and the integer sums of two
// weight rows are reduced together.
template <bool kVnni, class W, int R>
void legacy_rows_acts4(int64_t nb, const uint8_t* const w[R], const uint8_t* group,
                       float out[4 * R]) {
  static_assert(R % 2 == 0);
  constexpr size_t kActBlock = legacy_group_block_bytes(W::kWithMin);
  constexpr size_t kActQs = legacy_group_qs(W::kWithMin);
  // Lanes 0-3 take the first weight row's scale of a pair, 4-7 the second's.
  const __m256i spread0 = _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1);
  const __m256i spread1 = _mm256_setr_epi32(2, 2, 2, 2, 3, 3, 3, 3);
  __m256 acc[R / 2];
  for (int p = 0; p < R / 2; ++p) acc[p] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* ab = group + b * kActBlock;
    __m256i q[R], u[R], isum[R][4];
    for (int i = 0; i < R; ++i) {
      q[i] = W::values(w[i] + b * W::kBytes);
      u[i] = _mm256_sign_epi8(q[i], q[i]);
    }
    for (int k = 0; k < 4; ++k) {
      const __m256i a = load256(ab + kActQs + kQk * k);
      for (int i = 0; i < R; ++i) isum[i][k] = dot_u8s8<kVnni>(u[i], _mm256_sign_epi8(a, q[i]));
    }
    // The R scales (and minimums) in registers: building them in memory and loading them as one
    // vector would stall on store forwarding every block.
    const size_t off = static_cast<size_t>(b) * W::kBytes;
    const __m256 dw = _mm256_castps128_ps256(gather_half<R>(w, off));
    __m256 mw = _mm256_setzero_ps();
    if constexpr (W::kWithMin) mw = _mm256_castps128_ps256(gather_half<R>(w, off + 2));
    const __m256 da = _mm256_broadcast_ps(reinterpret_cast<const __m128*>(ab));
    for (int p = 0; p < R / 2; ++p) {
      // Per 128-bit half: one weight row's partial sums for the four rows; then halves added.
      const __m256i h0 = _mm256_hadd_epi32(_mm256_hadd_epi32(isum[2 * p][0], isum[2 * p][1]),
                                           _mm256_hadd_epi32(isum[2 * p][2], isum[2 * p][3]));
      const __m256i h1 =
          _mm256_hadd_epi32(_mm256_hadd_epi32(isum[2 * p + 1][0], isum[2 * p + 1][1]),
                            _mm256_hadd_epi32(isum[2 * p + 1][2], isum[2 * p + 1][3]));
      const __m256i total = _mm256_add_epi32(_mm256_permute2x128_si256(h0, h1, 0x20),
                                             _mm256_permute2x128_si256(h0, h1, 0x31));
      const __m256i spread = p == 0 ? spread0 : spread1;
      const __m256 scale = _mm256_mul_ps(_mm256_permutevar8x32_ps(dw, spread), da);
      __m256 part = _mm256_mul_ps(scale, _mm256_cvtepi32_ps(total));
      if constexpr (W::kWithMin) {
        const __m256 sa = _mm256_broadcast_ps(reinterpret_cast<const __m128*>(ab + 16));
        part = _mm256_add_ps(part, _mm256_mul_ps(_mm256_permutevar8x32_ps(mw, spread), sa));
      }
      acc[p] = _mm256_add_ps(acc[p], part);
    }
  }
  for (int p = 0; p < R / 2; ++p) _mm256_storeu_ps(out + 8 * p, acc[p]);
}

// ---- Batches with VNNI: eight weight rows interleaved -------------------------------------------
// legacy_rows_acts4 reduces every block's eight integer lanes to one sum per (weight row,
// activation row): 16 sums a block through horizontal adds, twice the shuffles of its 16
// vpdpbusd, and the shuffle port set the prefill speed (perf on an Intel Xeon: ~33 cycles a
// block). With VNNI a task instead interleaves eight weight rows once (pack_rows8: per block, the
// rows' values as 4-byte pieces, piece p of rows 0..7 in one vector) and multiplies each piece by
// one 4-byte piece of an activation row broadcast to all lanes: after the eight pieces, lane r
// holds row r's whole block sum, with no reduction. The activations go in as a + 128 (unsigned)
// against the signed values, each lane starting from -128 * sum(values), made when packing. The
// integers, and the float operations after them, are those of every other kernel: bit-identical.

// Weight rows i .. i + 7 of n_w (rows past the end: the last row again), as packing reads them.
inline void eight_rows(const uint8_t* w, size_t w_stride, int64_t i, int64_t n_w,
                       const uint8_t* rows[8]) {
  for (int r = 0; r < 8; ++r) rows[r] = w + (i + r < n_w ? i + r : n_w - 1) * w_stride;
}

// The first `valid` (1..8) lanes of v to dst: the outputs of a pack's real rows.
inline void store_lanes(float* dst, __m256 v, int64_t valid) {
  if (valid == 8) {
    _mm256_storeu_ps(dst, v);
    return;
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, v);
  for (int64_t r = 0; r < valid; ++r) dst[r] = lanes[r];
}

// Per block of eight packed rows: values [8 pieces][8 rows][4 bytes], then -128 * sum(values) per
// row (int32), the rows' scales d (f32) and for the _1 types their minimums m (f32).
template <class W>
constexpr size_t packed8_block_bytes() {
  return 256 + 32 + 32 + (W::kWithMin ? 32 : 0);
}

// 8 x 8 transpose of 32-bit elements: v[i] lane j -> v[j] lane i.
inline void transpose8_epi32(__m256i v[8]) {
  __m256i t[8], u[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_epi32(v[i], v[i + 1]);
    t[i + 1] = _mm256_unpackhi_epi32(v[i], v[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    u[i] = _mm256_unpacklo_epi64(t[i], t[i + 2]);
    u[i + 1] = _mm256_unpackhi_epi64(t[i], t[i + 2]);
    u[i + 2] = _mm256_unpacklo_epi64(t[i + 1], t[i + 3]);
    u[i + 3] = _mm256_unpackhi_epi64(t[i + 1], t[i + 3]);
  }
  for (int i = 0; i < 4; ++i) {
    v[i] = _mm256_permute2x128_si256(u[i], u[i + 4], 0x20);
    v[i + 4] = _mm256_permute2x128_si256(u[i], u[i + 4], 0x31);
  }
}

// The nb blocks of eight weight rows, packed (packed8_block_bytes each) into dst.
template <class W>
void pack_rows8(int64_t nb, const uint8_t* const rows[8], uint8_t* dst) {
  const __m256i bias = _mm256_set1_epi8(static_cast<char>(0x80));
  for (int64_t b = 0; b < nb; ++b, dst += packed8_block_bytes<W>()) {
    const size_t off = static_cast<size_t>(b) * W::kBytes;
    __m256i v[8];
    for (int r = 0; r < 8; ++r) v[r] = W::values(rows[r] + off);
    transpose8_epi32(v);  // v[p] lane r: piece p of row r
    __m256i sums = _mm256_setzero_si256();
    for (int p = 0; p < 8; ++p) {
      _mm256_store_si256(reinterpret_cast<__m256i*>(dst + 32 * p), v[p]);
      sums = _mm256_dpbusd_epi32(sums, bias, v[p]);
    }
    _mm256_store_si256(reinterpret_cast<__m256i*>(dst + 256),
                       _mm256_sub_epi32(_mm256_setzero_si256(), sums));
    const auto halves = [&](size_t at) {
      const auto h = [&](int r) { return static_cast<int16_t>(load_u16(rows[r] + off + at)); };
      return _mm256_cvtph_ps(_mm_setr_epi16(h(0), h(1), h(2), h(3), h(4), h(5), h(6), h(7)));
    };
    _mm256_store_ps(reinterpret_cast<float*>(dst + 288), halves(0));
    if constexpr (W::kWithMin) _mm256_store_ps(reinterpret_cast<float*>(dst + 320), halves(2));
  }
}

// Eight packed weight rows x the four activation rows of a group: acc[k] lane r = dot(row r, k).
template <class W>
void packed8_acts4(int64_t nb, const uint8_t* packed, const uint8_t* group, __m256 acc[4]) {
  constexpr size_t kActBlock = legacy_group_block_bytes(W::kWithMin);
  constexpr size_t kActQs = legacy_group_qs(W::kWithMin);
  const __m256i bias = _mm256_set1_epi8(static_cast<char>(0x80));
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* pb = packed + b * packed8_block_bytes<W>();
    const uint8_t* ab = group + b * kActBlock;
    const __m256i start = _mm256_load_si256(reinterpret_cast<const __m256i*>(pb + 256));
    __m256i isum[4] = {start, start, start, start};
    for (int p = 0; p < 8; ++p) {
      const __m256i values = _mm256_load_si256(reinterpret_cast<const __m256i*>(pb + 32 * p));
      for (int k = 0; k < 4; ++k) {
        const __m256i a = _mm256_xor_si256(
            _mm256_set1_epi32(static_cast<int>(load_u32(ab + kActQs + kQk * k + 4 * p))), bias);
        isum[k] = _mm256_dpbusd_epi32(isum[k], a, values);
      }
    }
    const __m256 dw = _mm256_load_ps(reinterpret_cast<const float*>(pb + 288));
    for (int k = 0; k < 4; ++k) {
      const __m256 scale = _mm256_mul_ps(dw, _mm256_set1_ps(load_f32(ab + 4 * k)));
      __m256 part = _mm256_mul_ps(scale, _mm256_cvtepi32_ps(isum[k]));
      if constexpr (W::kWithMin) {
        const __m256 mw = _mm256_load_ps(reinterpret_cast<const float*>(pb + 320));
        part = _mm256_add_ps(part, _mm256_mul_ps(mw, _mm256_set1_ps(load_f32(ab + 16 + 4 * k))));
      }
      acc[k] = _mm256_add_ps(acc[k], part);
    }
  }
}

// A batch tile through packed rows: for each eight weight rows (past the end: the last row
// again), packed once, every group of the tile's activation rows.
template <class W>
void tile_legacy_packed8(int64_t n, const uint8_t* w, size_t w_stride, int64_t n_w,
                         const uint8_t* acts, size_t group_bytes, int64_t a0, int64_t n_act,
                         float* out, size_t out_stride) {
  const int64_t nb = n / kQk;
  uint8_t* packed = thread_scratch(static_cast<size_t>(nb) * packed8_block_bytes<W>());
  const int64_t end = a0 + n_act;
  for (int64_t i = 0; i < n_w; i += 8) {
    const uint8_t* rows[8];
    eight_rows(w, w_stride, i, n_w, rows);
    pack_rows8<W>(nb, rows, packed);
    const int64_t valid = n_w - i < 8 ? n_w - i : 8;
    for (int64_t g = a0 / kGroupRows; g * kGroupRows < end; ++g) {
      __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                       _mm256_setzero_ps()};
      packed8_acts4<W>(nb, packed, acts + g * group_bytes, acc);
      for (int k = 0; k < kGroupRows; ++k) {
        const int64_t a = g * kGroupRows + k;
        if (a < a0 || a >= end) continue;
        float* dst = out + (a - a0) * out_stride + i;
        store_lanes(dst, acc[k], valid);
      }
    }
  }
}

// A tile: one activation row -> one weight row at a time (legacy_row_decode; legacy_row_act1 for
// rows too long for its prepared activation); several -> with VNNI eight interleaved weight rows
// at a time (tile_legacy_packed8), else for each group (rows past the end repeat the last one),
// kBatchRows weight rows at a time against the group's four rows (4 where there are 32 vector
// registers, 2 with 16).
template <bool kVnni, class W, int kBatchRows>
void tile_legacy(int64_t n, const uint8_t* w, size_t w_stride, int64_t n_w, const uint8_t* acts,
                 size_t group_bytes, int64_t a0, int64_t n_act, float* out, size_t out_stride) {
  const int64_t nb = n / kQk;
  if (n_act == 1) {
    const uint8_t* group = acts + (a0 / kGroupRows) * group_bytes;
    const int r = static_cast<int>(a0 % kGroupRows);
    if (nb <= kMaxDecodeBlocks) {
      DecodeActivation<W> act;
      act.template prepare<kVnni>(nb, group, r);
      StreamPrefetch pf(w);
      for (int64_t i = 0; i < n_w; ++i)
        out[i] = legacy_row_decode<kVnni, W>(nb, w + i * w_stride, act, pf);
      return;
    }
    StreamPrefetch pf(w);
    for (int64_t i = 0; i < n_w; ++i)
      out[i] = legacy_row_act1<kVnni, W>(nb, w + i * w_stride, group, r, pf);
    return;
  }
  if constexpr (kVnni) {
    tile_legacy_packed8<W>(n, w, w_stride, n_w, acts, group_bytes, a0, n_act, out, out_stride);
    return;
  }
  const int64_t end = a0 + n_act;
  float block[4 * kBatchRows];
  for (int64_t g = a0 / kGroupRows; g * kGroupRows < end; ++g) {
    const uint8_t* group = acts + g * group_bytes;
    for (int64_t i = 0; i < n_w; i += kBatchRows) {
      const uint8_t* rows[kBatchRows];  // rows past the end repeat the last one
      for (int k = 0; k < kBatchRows; ++k) rows[k] = w + (i + k < n_w ? i + k : n_w - 1) * w_stride;
      legacy_rows_acts4<kVnni, W, kBatchRows>(nb, rows, group, block);
      for (int r = 0; r < kBatchRows && i + r < n_w; ++r) {
        for (int k = 0; k < kGroupRows; ++k) {
          const int64_t a = g * kGroupRows + k;
          if (a >= a0 && a < end) out[(a - a0) * out_stride + i + r] = block[4 * r + k];
        }
      }
    }
  }
}

// ---- k-quants (256-value super-blocks, Q8_K activations) ---------------------------------------
// Q8_K activation block: d (f32) at 0, qs[256] at 4, bsums[16] (int16) at 260. Per super-block
// and activation row the kernels form the exact integers T (the scaled sum of products) and M (the
// minimums against the block sums), then add d_a * d_w * T - d_a * dmin_w * M in float, as the
// scalar kernels do.

inline int hsum_epi32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
  return _mm_cvtsi128_si32(s);
}

inline float k_block_value(float da, float dw, float dminw, int t, int m) {
  return da * dw * static_cast<float>(t) - da * dminw * static_cast<float>(m);
}

// Scale vectors for two 16-value sub-blocks 2p, 2p+1 covering 32 bytes: int16 lanes 0-7 hold
// scale 2p, lanes 8-15 scale 2p+1. `scales16` holds the 16 scales as int16, in order.
struct PairScales {
  __m256i low_half, high_half;  // scales 0-7 / 8-15 repeated in both 128-bit lanes
  explicit PairScales(__m256i scales16)
      : low_half(_mm256_permute4x64_epi64(scales16, 0x44)),
        high_half(_mm256_permute4x64_epi64(scales16, 0xEE)) {}
  __m256i pair(int p) const {
    const int k = p & 3;
    const __m256i mask =
        _mm256_set_m128i(_mm_set1_epi16(static_cast<int16_t>(((4 * k + 3) << 8) | (4 * k + 2))),
                         _mm_set1_epi16(static_cast<int16_t>(((4 * k + 1) << 8) | (4 * k))));
    return _mm256_shuffle_epi8(p < 4 ? low_half : high_half, mask);
  }
};

// Broadcast of int16 lane L (0..7) of a 128-bit vector replicated in both halves.
inline __m256i broadcast_lane16(__m256i both_halves, int lane) {
  return _mm256_shuffle_epi8(
      both_halves, _mm256_set1_epi16(static_cast<int16_t>(((2 * lane + 1) << 8) | (2 * lane))));
}

inline __m256i load_bsums(const uint8_t* ab) { return load256(ab + kQ8_KBsums); }

// Q2_K: value = d * (scale & 15) * u - dmin * (scale >> 4), u in 0..3, 16 sub-blocks of 16.
template <int N>
void dot_q2_k_n(int64_t n, const uint8_t* w, const uint8_t* act, size_t stride, float* out,
                StreamPrefetch* pf) {
  float sum[N] = {};
  const __m256i m3 = _mm256_set1_epi8(3);
  for (int64_t b = 0; b < n / kQkK; ++b) {
    const uint8_t* wb = w + b * kQ2_KBytes;
    if (pf != nullptr) pf->consumed(wb + kQ2_KBytes);
    const float dw = half_f16c(wb + 80);
    const float dminw = half_f16c(wb + 82);
    const __m128i packed = load128(wb);
    const __m128i low4 = _mm_set1_epi8(0x0F);
    const __m256i scales16 = _mm256_cvtepu8_epi16(_mm_and_si128(packed, low4));
    const __m256i mins16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(packed, 4), low4));
    const PairScales scales(scales16);
    __m256i isum[N];
    for (int j = 0; j < N; ++j) isum[j] = _mm256_setzero_si256();
    for (int h = 0; h < 2; ++h) {
      const __m256i q = load256(wb + 16 + 32 * h);
      for (int s = 0; s < 4; ++s) {
        const __m256i u = _mm256_and_si256(_mm256_srli_epi16(q, 2 * s), m3);
        const __m256i sc = scales.pair(4 * h + s);
        for (int j = 0; j < N; ++j) {
          const __m256i a = load256(act + j * stride + b * kQ8_KBytes + kQ8_KQs + 128 * h + 32 * s);
          isum[j] = _mm256_add_epi32(isum[j], dot_u8s8_scaled(u, a, sc));
        }
      }
    }
    for (int j = 0; j < N; ++j) {
      const uint8_t* ab = act + j * stride + b * kQ8_KBytes;
      const int m = hsum_epi32(_mm256_madd_epi16(load_bsums(ab), mins16));
      sum[j] += k_block_value(load_f32(ab), dw, dminw, hsum_epi32(isum[j]), m);
    }
  }
  for (int j = 0; j < N; ++j) out[j] = sum[j];
}

// The sixteen Q3_K scales (6-bit, offset 32) as int8, in order.
inline __m128i q3_k_scales(const uint8_t* packed) {
  const uint32_t w0 = load_u32(packed), w1 = load_u32(packed + 4), w2 = load_u32(packed + 8);
  const uint32_t low4 = 0x0f0f0f0fu, low2 = 0x03030303u;
  const uint32_t s0 = (w0 & low4) | ((w2 & low2) << 4);
  const uint32_t s1 = (w1 & low4) | (((w2 >> 2) & low2) << 4);
  const uint32_t s2 = ((w0 >> 4) & low4) | (((w2 >> 4) & low2) << 4);
  const uint32_t s3 = ((w1 >> 4) & low4) | (((w2 >> 6) & low2) << 4);
  return _mm_sub_epi8(_mm_set_epi32(static_cast<int>(s3), static_cast<int>(s2),
                                    static_cast<int>(s1), static_cast<int>(s0)),
                      _mm_set1_epi8(32));
}

// Q3_K: value = d * scale * (u - 4), u = low 2 bits | high bit << 2, 16 sub-blocks of 16.
// sum(scale * (u - 4) * q) = sum(scale * u * q) - 4 * sum(scale * bsum).
template <int N>
void dot_q3_k_n(int64_t n, const uint8_t* w, const uint8_t* act, size_t stride, float* out,
                StreamPrefetch* pf) {
  float sum[N] = {};
  const __m256i m3 = _mm256_set1_epi8(3);
  const __m256i m1 = _mm256_set1_epi8(1);
  for (int64_t b = 0; b < n / kQkK; ++b) {
    const uint8_t* wb = w + b * kQ3_KBytes;
    if (pf != nullptr) pf->consumed(wb + kQ3_KBytes);
    const float dw = half_f16c(wb + 108);
    const __m256i scales16 = _mm256_cvtepi8_epi16(q3_k_scales(wb + 96));
    const PairScales scales(scales16);
    const __m256i hmask = load256(wb);
    __m256i isum[N];
    for (int j = 0; j < N; ++j) isum[j] = _mm256_setzero_si256();
    for (int h = 0; h < 2; ++h) {
      const __m256i q = load256(wb + 32 + 32 * h);
      for (int s = 0; s < 4; ++s) {
        const __m256i low = _mm256_and_si256(_mm256_srli_epi16(q, 2 * s), m3);
        const __m256i high = _mm256_and_si256(_mm256_srli_epi16(hmask, 4 * h + s), m1);
        const __m256i u = _mm256_or_si256(low, _mm256_slli_epi16(high, 2));
        const __m256i sc = scales.pair(4 * h + s);
        for (int j = 0; j < N; ++j) {
          const __m256i a = load256(act + j * stride + b * kQ8_KBytes + kQ8_KQs + 128 * h + 32 * s);
          isum[j] = _mm256_add_epi32(isum[j], dot_u8s8_scaled(u, a, sc));
        }
      }
    }
    for (int j = 0; j < N; ++j) {
      const uint8_t* ab = act + j * stride + b * kQ8_KBytes;
      const __m256i corr = _mm256_slli_epi32(_mm256_madd_epi16(load_bsums(ab), scales16), 2);
      const int t = hsum_epi32(_mm256_sub_epi32(isum[j], corr));
      sum[j] += k_block_value(load_f32(ab), dw, 0.0f, t, 0);
    }
  }
  for (int j = 0; j < N; ++j) out[j] = sum[j];
}

// The eight 6-bit scales (bytes 0-7) and mins (bytes 8-15) of a Q4_K/Q5_K block, from its 12
// packed bytes (see scale_min_k4: sub-blocks 4-7 borrow the top bits of bytes 0-7).
inline __m128i q45_k_scales_mins(const uint8_t* packed) {
  const uint32_t w0 = load_u32(packed), w1 = load_u32(packed + 4), w2 = load_u32(packed + 8);
  const uint32_t low6 = 0x3f3f3f3fu, low4 = 0x0f0f0f0fu, low2 = 0x03030303u;
  const uint32_t sc_lo = w0 & low6;
  const uint32_t sc_hi = (w2 & low4) | (((w0 >> 6) & low2) << 4);
  const uint32_t mn_lo = w1 & low6;
  const uint32_t mn_hi = ((w2 >> 4) & low4) | (((w1 >> 6) & low2) << 4);
  return _mm_set_epi32(static_cast<int>(mn_hi), static_cast<int>(mn_lo), static_cast<int>(sc_hi),
                       static_cast<int>(sc_lo));
}

// Q4_K / Q5_K: value = d * scale * u - dmin * min, 8 sub-blocks of 32, u in 0..15 (Q4_K) or
// 0..31 (Q5_K, fifth bits in qh).
template <bool kFive, int N>
void dot_q45_k_n(int64_t n, const uint8_t* w, const uint8_t* act, size_t stride, float* out,
                 StreamPrefetch* pf) {
  constexpr size_t kBytes = kFive ? kQ5_KBytes : kQ4_KBytes;
  constexpr size_t kQs = kFive ? 48 : 16;
  float sum[N] = {};
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  const __m256i m1 = _mm256_set1_epi8(1);
  for (int64_t b = 0; b < n / kQkK; ++b) {
    const uint8_t* wb = w + b * kBytes;
    if (pf != nullptr) pf->consumed(wb + kBytes);
    const float dw = half_f16c(wb);
    const float dminw = half_f16c(wb + 2);
    const __m128i sm = q45_k_scales_mins(wb + 4);
    const __m256i scales = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm));
    // Each min covers two bsums (32 values): int16 lanes [m0 m0 m1 m1 ... m7 m7].
    const __m128i mins8 = _mm_srli_si128(sm, 8);
    const __m256i mins16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mins8, mins8));
    __m256i qh = _mm256_setzero_si256();
    if constexpr (kFive) qh = load256(wb + 16);
    __m256i isum[N];
    for (int j = 0; j < N; ++j) isum[j] = _mm256_setzero_si256();
    for (int k = 0; k < 4; ++k) {
      const __m256i q = load256(wb + kQs + 32 * k);
      __m256i lo = _mm256_and_si256(q, m4);
      __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
      if constexpr (kFive) {
        lo = _mm256_or_si256(
            lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * k), m1), 4));
        hi = _mm256_or_si256(
            hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * k + 1), m1), 4));
      }
      const __m256i sc_lo = broadcast_lane16(scales, 2 * k);
      const __m256i sc_hi = broadcast_lane16(scales, 2 * k + 1);
      for (int j = 0; j < N; ++j) {
        const uint8_t* aq = act + j * stride + b * kQ8_KBytes + kQ8_KQs + 64 * k;
        isum[j] = _mm256_add_epi32(isum[j], dot_u8s8_scaled(lo, load256(aq), sc_lo));
        isum[j] = _mm256_add_epi32(isum[j], dot_u8s8_scaled(hi, load256(aq + 32), sc_hi));
      }
    }
    for (int j = 0; j < N; ++j) {
      const uint8_t* ab = act + j * stride + b * kQ8_KBytes;
      const int m = hsum_epi32(_mm256_madd_epi16(load_bsums(ab), mins16));
      sum[j] += k_block_value(load_f32(ab), dw, dminw, hsum_epi32(isum[j]), m);
    }
  }
  for (int j = 0; j < N; ++j) out[j] = sum[j];
}

// Batches of Q4_K / Q5_K with VNNI, eight weight rows interleaved as in tile_legacy_packed8: per
// super-block and sub-block j (32 values), piece p (4 values) of the eight rows in one vector,
// multiplied by piece p of an activation row broadcast: lane r gathers row r's sub-block sum,
// which then takes its scale (vpmulld) into T; M comes from the sub-blocks' minimums against the
// activation's bsums (vpmaddwd on (m_2i, m_2i+1) pairs). The same T and M as dot_q45_k_n, and
// the same float operations after them: bit-identical results. (dot_q45_k_n keeps each row's
// sums across 32-bit lanes and reduces them per super-block and activation row.)
//
// Per super-block of eight packed rows: values [8 sub-blocks][8 pieces][8 rows][4 bytes] (u),
// the scales [8 sub-blocks][8 rows] (int32), the minimum pairs [4][8 rows] (int16 m_2i | m_2i+1
// << 16), then d and dmin (f32) of the eight rows.
constexpr size_t kPackedQ45KBytes = 2048 + 256 + 128 + 32 + 32;

template <bool kFive>
void pack_q45_k_rows8(int64_t nb, const uint8_t* const rows[8], uint8_t* dst) {
  constexpr size_t kBytes = kFive ? kQ5_KBytes : kQ4_KBytes;
  constexpr size_t kQs = kFive ? 48 : 16;
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  const __m256i m1 = _mm256_set1_epi8(1);
  for (int64_t b = 0; b < nb; ++b, dst += kPackedQ45KBytes) {
    const size_t off = static_cast<size_t>(b) * kBytes;
    alignas(16) uint8_t sm[8][16];  // per row: 8 scales, then 8 minimums
    for (int r = 0; r < 8; ++r) {
      _mm_store_si128(reinterpret_cast<__m128i*>(sm[r]), q45_k_scales_mins(rows[r] + off + 4));
    }
    for (int j = 0; j < 8; ++j) {
      __m256i v[8];
      for (int r = 0; r < 8; ++r) {
        const uint8_t* wb = rows[r] + off;
        const __m256i q = load256(wb + kQs + 32 * (j / 2));
        __m256i u =
            j % 2 == 0 ? _mm256_and_si256(q, m4) : _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
        if constexpr (kFive) {
          const __m256i qh = load256(wb + 16);
          u = _mm256_or_si256(u,
                              _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, j), m1), 4));
        }
        v[r] = u;
      }
      transpose8_epi32(v);
      for (int p = 0; p < 8; ++p) {
        _mm256_store_si256(reinterpret_cast<__m256i*>(dst + 32 * (8 * j + p)), v[p]);
      }
      alignas(32) int32_t sc[8];
      for (int r = 0; r < 8; ++r) sc[r] = sm[r][j];
      std::memcpy(dst + 2048 + 32 * j, sc, sizeof(sc));
    }
    for (int i = 0; i < 4; ++i) {
      alignas(32) int32_t pairs[8];
      for (int r = 0; r < 8; ++r) pairs[r] = sm[r][8 + 2 * i] | (sm[r][8 + 2 * i + 1] << 16);
      std::memcpy(dst + 2304 + 32 * i, pairs, sizeof(pairs));
    }
    alignas(32) float d[8], dmin[8];
    for (int r = 0; r < 8; ++r) {
      d[r] = half_f16c(rows[r] + off);
      dmin[r] = half_f16c(rows[r] + off + 2);
    }
    std::memcpy(dst + 2432, d, sizeof(d));
    std::memcpy(dst + 2464, dmin, sizeof(dmin));
  }
}

// T of super-block b for four Q8_K activation rows: t[k] lane r = sum over the kSub sub-blocks j
// of scale(r, j) * sum(u * a_k) over the sub-block, from packed rows at pb holding the values
// [kSub][kPieces][8 rows][4 bytes] (2,048 bytes) and then the scales [kSub][8 rows] (int32).
template <int kSub, int kPieces>
inline void scaled_subblock_sums(const uint8_t* pb, const uint8_t* const act[4], int64_t b,
                                 __m256i t[4]) {
  static_assert(kSub * kPieces * 32 == 2048);
  for (int k = 0; k < 4; ++k) t[k] = _mm256_setzero_si256();
  for (int j = 0; j < kSub; ++j) {
    __m256i isum[4];
    for (int k = 0; k < 4; ++k) isum[k] = _mm256_setzero_si256();
    for (int p = 0; p < kPieces; ++p) {
      const __m256i u =
          _mm256_load_si256(reinterpret_cast<const __m256i*>(pb + 32 * (kPieces * j + p)));
      for (int k = 0; k < 4; ++k) {
        const uint8_t* aq = act[k] + b * kQ8_KBytes + kQ8_KQs + 4 * (kPieces * j + p);
        isum[k] =
            _mm256_dpbusd_epi32(isum[k], u, _mm256_set1_epi32(static_cast<int>(load_u32(aq))));
      }
    }
    const __m256i sc = _mm256_load_si256(reinterpret_cast<const __m256i*>(pb + 2048 + 32 * j));
    for (int k = 0; k < 4; ++k) t[k] = _mm256_add_epi32(t[k], _mm256_mullo_epi32(isum[k], sc));
  }
}

// Eight packed rows x four Q8_K activation rows (act[k]): acc[k] lane r += dot(row r, act k).
inline void q45_k_packed8_acts4(int64_t nb, const uint8_t* packed, const uint8_t* const act[4],
                                __m256 acc[4]) {
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* pb = packed + b * kPackedQ45KBytes;
    __m256i t[4];
    scaled_subblock_sums</*kSub=*/8, /*kPieces=*/8>(pb, act, b, t);
    const __m256 dw = _mm256_load_ps(reinterpret_cast<const float*>(pb + 2432));
    const __m256 dminw = _mm256_load_ps(reinterpret_cast<const float*>(pb + 2464));
    for (int k = 0; k < 4; ++k) {
      const uint8_t* ab = act[k] + b * kQ8_KBytes;
      __m256i m = _mm256_setzero_si256();
      for (int i = 0; i < 4; ++i) {
        const __m256i pair = _mm256_set1_epi32(static_cast<int>(q8_k_sum_pair(ab + kQ8_KBsums, i)));
        const __m256i mins =
            _mm256_load_si256(reinterpret_cast<const __m256i*>(pb + 2304 + 32 * i));
        m = _mm256_add_epi32(m, _mm256_madd_epi16(mins, pair));
      }
      // k_block_value lane by lane: da * dw * T - da * dmin * M.
      const __m256 da = _mm256_set1_ps(load_f32(ab));
      const __m256 value =
          _mm256_sub_ps(_mm256_mul_ps(_mm256_mul_ps(da, dw), _mm256_cvtepi32_ps(t[k])),
                        _mm256_mul_ps(_mm256_mul_ps(da, dminw), _mm256_cvtepi32_ps(m)));
      acc[k] = _mm256_add_ps(acc[k], value);
    }
  }
}

// A batch tile of a k-quant through packed rows: for each eight weight rows (past the end: the
// last row again), packed once by P::pack into the thread's scratch, the tile's activation rows
// four at a time through P::dot.
template <class P>
void tile_k_packed8(int64_t n, const uint8_t* w, size_t w_stride, int64_t n_w, const uint8_t* acts,
                    size_t group_bytes, int64_t a0, int64_t n_act, float* out, size_t out_stride) {
  const int64_t nb = n / kQkK;
  uint8_t* packed = thread_scratch(static_cast<size_t>(nb) * P::kBytes);
  for (int64_t i = 0; i < n_w; i += 8) {
    const uint8_t* rows[8];
    eight_rows(w, w_stride, i, n_w, rows);
    P::pack(nb, rows, packed);
    const int64_t valid = n_w - i < 8 ? n_w - i : 8;
    for (int64_t c = 0; c < n_act; c += 4) {
      const int64_t count = n_act - c < 4 ? n_act - c : 4;
      const uint8_t* act[4];  // rows past the end repeat the last one
      for (int k = 0; k < 4; ++k)
        act[k] = acts + (a0 + c + (k < count ? k : count - 1)) * group_bytes;
      __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                       _mm256_setzero_ps()};
      P::dot(nb, packed, act, acc);
      for (int64_t k = 0; k < count; ++k) {
        float* dst = out + (c + k) * out_stride + i;
        store_lanes(dst, acc[k], valid);
      }
    }
  }
}

template <bool kFive>
struct PackedQ45K {
  static constexpr size_t kBytes = kPackedQ45KBytes;
  static void pack(int64_t nb, const uint8_t* const rows[8], uint8_t* dst) {
    pack_q45_k_rows8<kFive>(nb, rows, dst);
  }
  static void dot(int64_t nb, const uint8_t* packed, const uint8_t* const act[4], __m256 acc[4]) {
    q45_k_packed8_acts4(nb, packed, act, acc);
  }
};

// Q6_K: value = d * scale * (u - 32), u = 4 low bits (ql) | 2 high bits (qh) << 4, 16 sub-blocks
// of 16 with int8 scales. sum(scale * (u - 32) * q) = sum(scale * u * q) - 32 * sum(scale * bsum).
template <int N>
void dot_q6_k_n(int64_t n, const uint8_t* w, const uint8_t* act, size_t stride, float* out,
                StreamPrefetch* pf) {
  float sum[N] = {};
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  const __m256i m2 = _mm256_set1_epi8(3);
  for (int64_t b = 0; b < n / kQkK; ++b) {
    const uint8_t* wb = w + b * kQ6_KBytes;
    if (pf != nullptr) pf->consumed(wb + kQ6_KBytes);
    const float dw = half_f16c(wb + 208);
    const __m256i scales16 = _mm256_cvtepi8_epi16(load128(wb + 192));
    const PairScales scales(scales16);
    __m256i isum[N];
    for (int j = 0; j < N; ++j) isum[j] = _mm256_setzero_si256();
    for (int h = 0; h < 2; ++h) {
      const __m256i ql0 = load256(wb + 64 * h);
      const __m256i ql1 = load256(wb + 64 * h + 32);
      const __m256i qh = load256(wb + 128 + 32 * h);
      __m256i u[4];
      u[0] = _mm256_or_si256(_mm256_and_si256(ql0, m4),
                             _mm256_slli_epi16(_mm256_and_si256(qh, m2), 4));
      u[1] = _mm256_or_si256(_mm256_and_si256(ql1, m4),
                             _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m2), 4));
      u[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4),
                             _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m2), 4));
      u[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                             _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m2), 4));
      for (int k = 0; k < 4; ++k) {
        const __m256i sc = scales.pair(4 * h + k);
        for (int j = 0; j < N; ++j) {
          const __m256i a = load256(act + j * stride + b * kQ8_KBytes + kQ8_KQs + 128 * h + 32 * k);
          isum[j] = _mm256_add_epi32(isum[j], dot_u8s8_scaled(u[k], a, sc));
        }
      }
    }
    for (int j = 0; j < N; ++j) {
      const uint8_t* ab = act + j * stride + b * kQ8_KBytes;
      const __m256i corr = _mm256_slli_epi32(_mm256_madd_epi16(load_bsums(ab), scales16), 5);
      const int t = hsum_epi32(_mm256_sub_epi32(isum[j], corr));
      sum[j] += k_block_value(load_f32(ab), dw, 0.0f, t, 0);
    }
  }
  for (int j = 0; j < N; ++j) out[j] = sum[j];
}

// Batches of Q6_K with VNNI, packed like Q4_K (tile_q45_k_packed8): per super-block and sub-block s
// (16 values), piece p (4 values) of the eight rows' u (0..63) in one vector; T = sum_s sc_s *
// sum(u * a) through vpmulld, minus 32 * sum_s sc_s * bsum_s through vpmaddwd on scale pairs:
// dot_q6_k_n's integers and float operations, so bit-identical results.
//
// Per super-block of eight packed rows: values [16 sub-blocks][4 pieces][8 rows][4 bytes], the
// scales [16][8 rows] (int32), the scale pairs [8][8 rows] (int16 sc_2i | sc_2i+1 << 16), d [8].
constexpr size_t kPackedQ6KBytes = 2048 + 512 + 256 + 32;

inline void pack_q6_k_rows8(int64_t nb, const uint8_t* const rows[8], uint8_t* dst) {
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  const __m256i m2 = _mm256_set1_epi8(3);
  for (int64_t b = 0; b < nb; ++b, dst += kPackedQ6KBytes) {
    const size_t off = static_cast<size_t>(b) * kQ6_KBytes;
    for (int h = 0; h < 2; ++h) {
      for (int k = 0; k < 4; ++k) {
        __m256i v[8];
        for (int r = 0; r < 8; ++r) {
          const uint8_t* wb = rows[r] + off;
          const __m256i ql = load256(wb + 64 * h + 32 * (k % 2));
          const __m256i qh = load256(wb + 128 + 32 * h);
          const __m256i low =
              k < 2 ? _mm256_and_si256(ql, m4) : _mm256_and_si256(_mm256_srli_epi16(ql, 4), m4);
          const __m256i high = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * k), m2);
          v[r] = _mm256_or_si256(low, _mm256_slli_epi16(high, 4));
        }
        transpose8_epi32(v);  // pieces 0-3: sub-block 8h + 2k, pieces 4-7: the next one
        const int s0 = 8 * h + 2 * k;
        for (int p = 0; p < 8; ++p) {
          _mm256_store_si256(reinterpret_cast<__m256i*>(dst + 32 * (4 * s0 + p)), v[p]);
        }
      }
    }
    alignas(32) int32_t sc[16][8];
    for (int r = 0; r < 8; ++r) {
      for (int sb = 0; sb < 16; ++sb) sc[sb][r] = static_cast<int8_t>(rows[r][off + 192 + sb]);
    }
    std::memcpy(dst + 2048, sc, sizeof(sc));
    alignas(32) int32_t pairs[8][8];
    for (int i = 0; i < 8; ++i) {
      for (int r = 0; r < 8; ++r) {
        pairs[i][r] = static_cast<int32_t>((static_cast<uint32_t>(sc[2 * i][r]) & 0xFFFF) |
                                           (static_cast<uint32_t>(sc[2 * i + 1][r]) << 16));
      }
    }
    std::memcpy(dst + 2560, pairs, sizeof(pairs));
    alignas(32) float d[8];
    for (int r = 0; r < 8; ++r) d[r] = half_f16c(rows[r] + off + 208);
    std::memcpy(dst + 2816, d, sizeof(d));
  }
}

// Eight packed Q6_K rows x four Q8_K activation rows: acc[k] lane r += dot(row r, act k).
inline void q6_k_packed8_acts4(int64_t nb, const uint8_t* packed, const uint8_t* const act[4],
                               __m256 acc[4]) {
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* pb = packed + b * kPackedQ6KBytes;
    __m256i t[4];
    scaled_subblock_sums</*kSub=*/16, /*kPieces=*/4>(pb, act, b, t);
    const __m256 dw = _mm256_load_ps(reinterpret_cast<const float*>(pb + 2816));
    const __m256 zero = _mm256_setzero_ps();
    for (int k = 0; k < 4; ++k) {
      const uint8_t* ab = act[k] + b * kQ8_KBytes;
      __m256i corr = _mm256_setzero_si256();
      for (int i = 0; i < 8; ++i) {
        const __m256i pair = _mm256_set1_epi32(static_cast<int>(load_u32(ab + kQ8_KBsums + 4 * i)));
        const __m256i scales =
            _mm256_load_si256(reinterpret_cast<const __m256i*>(pb + 2560 + 32 * i));
        corr = _mm256_add_epi32(corr, _mm256_madd_epi16(scales, pair));
      }
      const __m256i total = _mm256_sub_epi32(t[k], _mm256_slli_epi32(corr, 5));
      // k_block_value(da, dw, 0, t, 0) lane by lane: da * dw * t - da * 0 * 0.
      const __m256 da = _mm256_set1_ps(load_f32(ab));
      const __m256 value =
          _mm256_sub_ps(_mm256_mul_ps(_mm256_mul_ps(da, dw), _mm256_cvtepi32_ps(total)),
                        _mm256_mul_ps(_mm256_mul_ps(da, zero), zero));
      acc[k] = _mm256_add_ps(acc[k], value);
    }
  }
}

// ---- Tiles ------------------------------------------------------------------------------------

// One weight row x up to four activation rows, the kernel chosen by the number of rows.
template <template <int> class K>
void by_rows(int64_t n, const uint8_t* w, const uint8_t* act, size_t stride, int n_act, float* out,
             StreamPrefetch* pf) {
  switch (n_act) {
    case 1:
      K<1>::run(n, w, act, stride, out, pf);
      return;
    case 2:
      K<2>::run(n, w, act, stride, out, pf);
      return;
    case 3:
      K<3>::run(n, w, act, stride, out, pf);
      return;
    default:
      K<4>::run(n, w, act, stride, out, pf);
      return;
  }
}

// The tile of a kernel family K: for each run of up to four activation rows (one row per group),
// every weight row.
template <template <int> class K>
void tile_by_rows(int64_t n, const uint8_t* w, size_t w_stride, int64_t n_w, const uint8_t* acts,
                  size_t group_bytes, int64_t a0, int64_t n_act, float* out, size_t out_stride) {
  float result[kMaxActRows];
  for (int64_t c = 0; c < n_act; c += kMaxActRows) {
    const int count = static_cast<int>(n_act - c < kMaxActRows ? n_act - c : kMaxActRows);
    const uint8_t* act = acts + (a0 + c) * group_bytes;
    StreamPrefetch pf(w);
    for (int64_t i = 0; i < n_w; ++i) {
      // Later passes find the rows cached.
      by_rows<K>(n, w + i * w_stride, act, group_bytes, count, result, c == 0 ? &pf : nullptr);
      for (int j = 0; j < count; ++j) out[(c + j) * out_stride + i] = result[j];
    }
  }
}

template <bool kBf16>
struct HalfKernel {
  template <int N>
  struct K {
    static void run(int64_t n, const uint8_t* w, const uint8_t* a, size_t s, float* o,
                    StreamPrefetch* pf) {
      dot_half_n<kBf16, N>(n, w, a, s, o, pf);
    }
  };
};
template <int N>
struct Q2KKernel {
  static void run(int64_t n, const uint8_t* w, const uint8_t* a, size_t s, float* o,
                  StreamPrefetch* pf) {
    dot_q2_k_n<N>(n, w, a, s, o, pf);
  }
};
template <int N>
struct Q3KKernel {
  static void run(int64_t n, const uint8_t* w, const uint8_t* a, size_t s, float* o,
                  StreamPrefetch* pf) {
    dot_q3_k_n<N>(n, w, a, s, o, pf);
  }
};
template <bool kFive>
struct Q45KKernel {
  template <int N>
  struct K {
    static void run(int64_t n, const uint8_t* w, const uint8_t* a, size_t s, float* o,
                    StreamPrefetch* pf) {
      dot_q45_k_n<kFive, N>(n, w, a, s, o, pf);
    }
  };
};
// Q4_K / Q5_K tiles: batches through packed rows with VNNI, else (and one activation row) the
// row kernels.
template <bool kVnni, bool kFive>
void tile_q45_k(int64_t n, const uint8_t* w, size_t w_stride, int64_t n_w, const uint8_t* acts,
                size_t group_bytes, int64_t a0, int64_t n_act, float* out, size_t out_stride) {
  if constexpr (kVnni) {
    if (n_act > 1) {
      tile_k_packed8<PackedQ45K<kFive>>(n, w, w_stride, n_w, acts, group_bytes, a0, n_act, out,
                                        out_stride);
      return;
    }
  }
  tile_by_rows<Q45KKernel<kFive>::template K>(n, w, w_stride, n_w, acts, group_bytes, a0, n_act,
                                              out, out_stride);
}

template <int N>
struct Q6KKernel {
  static void run(int64_t n, const uint8_t* w, const uint8_t* a, size_t s, float* o,
                  StreamPrefetch* pf) {
    dot_q6_k_n<N>(n, w, a, s, o, pf);
  }
};

struct PackedQ6K {
  static constexpr size_t kBytes = kPackedQ6KBytes;
  static void pack(int64_t nb, const uint8_t* const rows[8], uint8_t* dst) {
    pack_q6_k_rows8(nb, rows, dst);
  }
  static void dot(int64_t nb, const uint8_t* packed, const uint8_t* const act[4], __m256 acc[4]) {
    q6_k_packed8_acts4(nb, packed, act, acc);
  }
};

// Q6_K tiles: batches through packed rows with VNNI, else (and one activation row) the row kernel.
template <bool kVnni>
void tile_q6_k(int64_t n, const uint8_t* w, size_t w_stride, int64_t n_w, const uint8_t* acts,
               size_t group_bytes, int64_t a0, int64_t n_act, float* out, size_t out_stride) {
  if constexpr (kVnni) {
    if (n_act > 1) {
      tile_k_packed8<PackedQ6K>(n, w, w_stride, n_w, acts, group_bytes, a0, n_act, out, out_stride);
      return;
    }
  }
  tile_by_rows<Q6KKernel>(n, w, w_stride, n_w, acts, group_bytes, a0, n_act, out, out_stride);
}

// The table of one instruction-set level.
template <bool kVnni, int kBatchRows>
KernelTable make_simd256_table() {
  return KernelTable{
      tile_by_rows<HalfKernel<false>::K>,
      tile_by_rows<HalfKernel<true>::K>,
      tile_legacy<kVnni, Q8_0Weights, kBatchRows>,
      tile_legacy<kVnni, Q4_0Weights, kBatchRows>,
      tile_legacy<kVnni, Q4_1Weights, kBatchRows>,
      tile_legacy<kVnni, Q5_0Weights, kBatchRows>,
      tile_legacy<kVnni, Q5_1Weights, kBatchRows>,
      tile_by_rows<Q2KKernel>,
      tile_by_rows<Q3KKernel>,
      tile_q45_k<kVnni, false>,
      tile_q45_k<kVnni, true>,
      tile_q6_k<kVnni>,
      widen_row<false>,
      widen_row<true>,
      round_f16_row,
      narrow_f16_row,
      prepare_legacy_group,
      quantize_q8_k_row,
  };
}

}  // namespace
