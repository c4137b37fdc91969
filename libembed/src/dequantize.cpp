#include "dequantize.h"

#include <cstring>

#include "ragkit/embed/tensor.h"

// Block layouts follow ggml-common.h. Fields are read with memcpy at fixed byte offsets, never
// through struct casts: GGUF data is only guaranteed 32-byte aligned per tensor, rows of odd-sized
// blocks are not, and UBSan flags misaligned loads. The arithmetic mirrors the reference
// expression by expression (int -> float conversions, multiplication order) so results match
// llama.cpp bit for bit.

namespace ragkit::embed {
namespace {

constexpr int kQk = 32;    // values per block of the legacy types
constexpr int kQkK = 256;  // values per super-block of the k-quants

float load_half(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return fp16_to_fp32(h);
}

// Little-endian like the file, whatever the host: the bits index values, not bytes.
uint32_t load_u32_le(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
         static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}

// The 6-bit scale and min of sub-block j (0..7) packed into the 12 scale bytes of Q4_K/Q5_K
// (ggml's get_scale_min_k4): sub-blocks 0-3 use the low 6 bits of bytes 0-7, sub-blocks 4-7
// put their low 4 bits in bytes 8-11 and borrow the top 2 bits of bytes 0-7.
void scale_min_k4(int j, const uint8_t* q, uint8_t* sc, uint8_t* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = static_cast<uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *m = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

// The 32 unsigned 5-bit values of a Q5_0/Q5_1 block: low nibbles in qs as in Q4_0, the fifth
// bit of value j in bit j of qh.
void unpack_q5(uint32_t qh, const uint8_t* qs, int* q) {
  for (int j = 0; j < kQk / 2; ++j) {
    q[j] = static_cast<int>((qs[j] & 0x0Fu) | (((qh >> j) << 4) & 0x10));
    q[j + kQk / 2] = static_cast<int>((qs[j] >> 4) | ((qh >> (j + 12)) & 0x10));
  }
}

}  // namespace

// block_q4_0: d (f16), qs[16]; value j in the low nibble of qs[j], value j+16 in the high one.
void dequantize_row_q4_0(const uint8_t* src, float* dst, int64_t n) {
  constexpr size_t kBlock = 2 + kQk / 2;
  for (int64_t i = 0; i < n / kQk; ++i) {
    const uint8_t* b = src + i * kBlock;
    const float d = load_half(b);
    const uint8_t* qs = b + 2;
    float* y = dst + i * kQk;
    for (int j = 0; j < kQk / 2; ++j) {
      const int x0 = (qs[j] & 0x0F) - 8;
      const int x1 = (qs[j] >> 4) - 8;
      y[j] = static_cast<float>(x0) * d;
      y[j + kQk / 2] = static_cast<float>(x1) * d;
    }
  }
}

// block_q4_1: d, m (f16), qs[16]; unsigned nibbles scaled and offset by the block minimum.
void dequantize_row_q4_1(const uint8_t* src, float* dst, int64_t n) {
  constexpr size_t kBlock = 4 + kQk / 2;
  for (int64_t i = 0; i < n / kQk; ++i) {
    const uint8_t* b = src + i * kBlock;
    const float d = load_half(b);
    const float m = load_half(b + 2);
    const uint8_t* qs = b + 4;
    float* y = dst + i * kQk;
    for (int j = 0; j < kQk / 2; ++j) {
      const int x0 = qs[j] & 0x0F;
      const int x1 = qs[j] >> 4;
      y[j] = static_cast<float>(x0) * d + m;
      y[j + kQk / 2] = static_cast<float>(x1) * d + m;
    }
  }
}

// block_q5_0: d (f16), qh[4] (bit j = fifth bit of value j), qs[16] as in Q4_0.
void dequantize_row_q5_0(const uint8_t* src, float* dst, int64_t n) {
  constexpr size_t kBlock = 2 + 4 + kQk / 2;
  for (int64_t i = 0; i < n / kQk; ++i) {
    const uint8_t* b = src + i * kBlock;
    const float d = load_half(b);
    const uint32_t qh = load_u32_le(b + 2);
    const uint8_t* qs = b + 6;
    float* y = dst + i * kQk;
    int q[kQk];
    unpack_q5(qh, qs, q);
    for (int j = 0; j < kQk; ++j) y[j] = static_cast<float>(q[j] - 16) * d;
  }
}

// block_q5_1: d, m (f16), qh[4], qs[16]: Q5_0's 5-bit values, unsigned, plus the minimum.
void dequantize_row_q5_1(const uint8_t* src, float* dst, int64_t n) {
  constexpr size_t kBlock = 4 + 4 + kQk / 2;
  for (int64_t i = 0; i < n / kQk; ++i) {
    const uint8_t* b = src + i * kBlock;
    const float d = load_half(b);
    const float m = load_half(b + 2);
    const uint32_t qh = load_u32_le(b + 4);
    const uint8_t* qs = b + 8;
    float* y = dst + i * kQk;
    int q[kQk];
    unpack_q5(qh, qs, q);
    for (int j = 0; j < kQk; ++j) y[j] = static_cast<float>(q[j]) * d + m;
  }
}

// block_q2_K: scales[16] (low nibble scale, high nibble min, per 16 values), qs[64] (2-bit
// values, four per byte), d, dmin (f16). Each 128-value half uses 32 qs bytes at four shifts.
void dequantize_row_q2_k(const uint8_t* src, float* dst, int64_t n) {
  constexpr size_t kBlock = kQkK / 16 + kQkK / 4 + 2 + 2;
  for (int64_t i = 0; i < n / kQkK; ++i) {
    const uint8_t* b = src + i * kBlock;
    const uint8_t* scales = b;
    const uint8_t* q = b + kQkK / 16;
    const float d = load_half(b + kQkK / 16 + kQkK / 4);
    const float min = load_half(b + kQkK / 16 + kQkK / 4 + 2);
    float* y = dst + i * kQkK;
    int is = 0;
    for (int half = 0; half < kQkK; half += 128) {
      int shift = 0;
      for (int j = 0; j < 4; ++j) {
        for (int part = 0; part < 2; ++part) {
          const uint8_t sc = scales[is++];
          const float dl = d * static_cast<float>(sc & 0xF);
          const float ml = min * static_cast<float>(sc >> 4);
          for (int l = 0; l < 16; ++l) {
            const int v = (q[l + 16 * part] >> shift) & 3;
            *y++ = dl * static_cast<float>(v) - ml;
          }
        }
        shift += 2;
      }
      q += 32;
    }
  }
}

// block_q3_K: hmask[32] (third bit, inverted: clear means subtract 4), qs[64] (low 2 bits),
// scales[12] (sixteen 6-bit signed scales, offset 32), d (f16).
void dequantize_row_q3_k(const uint8_t* src, float* dst, int64_t n) {
  constexpr size_t kBlock = kQkK / 8 + kQkK / 4 + 12 + 2;
  for (int64_t i = 0; i < n / kQkK; ++i) {
    const uint8_t* b = src + i * kBlock;
    const uint8_t* hm = b;
    const uint8_t* q = b + kQkK / 8;
    const uint8_t* packed = b + kQkK / 8 + kQkK / 4;
    const float d_all = load_half(packed + 12);
    // Same unpacking as ggml's kmask1/kmask2 shuffle, per scale instead of per 32-bit word:
    // the low 4 bits come from bytes 0-7 (low nibbles for scales 0-7, high for 8-15), the
    // top 2 bits from bytes 8-11, byte 8 + j % 4 at bit 2 * (j / 4).
    int scales[16];
    for (int j = 0; j < 16; ++j) {
      const int low = j < 8 ? (packed[j] & 0xF) : (packed[j - 8] >> 4);
      const int high = (packed[8 + j % 4] >> (2 * (j / 4))) & 3;
      scales[j] = (low | (high << 4)) - 32;
    }
    float* y = dst + i * kQkK;
    int is = 0;
    uint8_t m = 1;
    for (int half = 0; half < kQkK; half += 128) {
      int shift = 0;
      for (int j = 0; j < 4; ++j) {
        for (int part = 0; part < 2; ++part) {
          const float dl = d_all * static_cast<float>(scales[is++]);
          for (int l = 0; l < 16; ++l) {
            const int k = l + 16 * part;
            const int v = ((q[k] >> shift) & 3) - ((hm[k] & m) ? 0 : 4);
            *y++ = dl * static_cast<float>(v);
          }
        }
        shift += 2;
        m = static_cast<uint8_t>(m << 1);
      }
      q += 32;
    }
  }
}

// block_q4_K: d, dmin (f16), scales[12] (eight 6-bit scale/min pairs), qs[128]; each 64 values
// take 32 bytes, low nibbles for the first 32, high nibbles for the next.
void dequantize_row_q4_k(const uint8_t* src, float* dst, int64_t n) {
  constexpr size_t kBlock = 2 + 2 + 12 + kQkK / 2;
  for (int64_t i = 0; i < n / kQkK; ++i) {
    const uint8_t* b = src + i * kBlock;
    const float d = load_half(b);
    const float min = load_half(b + 2);
    const uint8_t* scales = b + 4;
    const uint8_t* q = b + 16;
    float* y = dst + i * kQkK;
    int is = 0;
    for (int j = 0; j < kQkK; j += 64) {
      uint8_t sc;
      uint8_t m;
      scale_min_k4(is, scales, &sc, &m);
      const float d1 = d * static_cast<float>(sc);
      const float m1 = min * static_cast<float>(m);
      scale_min_k4(is + 1, scales, &sc, &m);
      const float d2 = d * static_cast<float>(sc);
      const float m2 = min * static_cast<float>(m);
      for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>(q[l] & 0xF) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>(q[l] >> 4) - m2;
      q += 32;
      is += 2;
    }
  }
}

// block_q5_K: d, dmin (f16), scales[12] as Q4_K, qh[32] (fifth bits, two per 64 values),
// qs[128] as Q4_K.
void dequantize_row_q5_k(const uint8_t* src, float* dst, int64_t n) {
  constexpr size_t kBlock = 2 + 2 + 12 + kQkK / 8 + kQkK / 2;
  for (int64_t i = 0; i < n / kQkK; ++i) {
    const uint8_t* b = src + i * kBlock;
    const float d = load_half(b);
    const float min = load_half(b + 2);
    const uint8_t* scales = b + 4;
    const uint8_t* qh = b + 16;
    const uint8_t* ql = b + 16 + kQkK / 8;
    float* y = dst + i * kQkK;
    int is = 0;
    unsigned u1 = 1;
    unsigned u2 = 2;
    for (int j = 0; j < kQkK; j += 64) {
      uint8_t sc;
      uint8_t m;
      scale_min_k4(is, scales, &sc, &m);
      const float d1 = d * static_cast<float>(sc);
      const float m1 = min * static_cast<float>(m);
      scale_min_k4(is + 1, scales, &sc, &m);
      const float d2 = d * static_cast<float>(sc);
      const float m2 = min * static_cast<float>(m);
      for (int l = 0; l < 32; ++l) {
        const int v = (ql[l] & 0xF) + ((qh[l] & u1) ? 16 : 0);
        *y++ = d1 * static_cast<float>(v) - m1;
      }
      for (int l = 0; l < 32; ++l) {
        const int v = (ql[l] >> 4) + ((qh[l] & u2) ? 16 : 0);
        *y++ = d2 * static_cast<float>(v) - m2;
      }
      ql += 32;
      is += 2;
      u1 <<= 2;
      u2 <<= 2;
    }
  }
}

// block_q6_K: ql[128] (low 4 bits), qh[64] (high 2 bits), scales[16] (int8, per 16 values),
// d (f16). Each 128-value half uses 64 ql bytes, 32 qh bytes and 8 scales.
void dequantize_row_q6_k(const uint8_t* src, float* dst, int64_t n) {
  constexpr size_t kBlock = kQkK / 2 + kQkK / 4 + kQkK / 16 + 2;
  for (int64_t i = 0; i < n / kQkK; ++i) {
    const uint8_t* b = src + i * kBlock;
    const uint8_t* ql = b;
    const uint8_t* qh = b + kQkK / 2;
    const uint8_t* sc_bytes = b + kQkK / 2 + kQkK / 4;
    const float d = load_half(sc_bytes + kQkK / 16);
    float* y = dst + i * kQkK;
    for (int half = 0; half < kQkK; half += 128) {
      int8_t sc[8];
      std::memcpy(sc, sc_bytes, 8);
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        // (d * scale) * q, in the reference's left-to-right order.
        y[l] = d * static_cast<float>(sc[is]) * static_cast<float>(q1);
        y[l + 32] = d * static_cast<float>(sc[is + 2]) * static_cast<float>(q2);
        y[l + 64] = d * static_cast<float>(sc[is + 4]) * static_cast<float>(q3);
        y[l + 96] = d * static_cast<float>(sc[is + 6]) * static_cast<float>(q4);
      }
      y += 128;
      ql += 64;
      qh += 32;
      sc_bytes += 8;
    }
  }
}

}  // namespace ragkit::embed
