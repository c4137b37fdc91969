// What the kernel files of quant_dot share: block sizes and field offsets of ggml's block
// layouts (ggml-common.h), scalar field loaders that tolerate any alignment, and the per-ISA
// kernel tables that quant_dot.cpp dispatches through.
// Private to the quant_dot*.cpp files.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "ops/quant_dot.h"
#include "ops/stream_prefetch.h"

namespace ragkit::embed::ops::detail {

constexpr int kQk = 32;    // values per block of the legacy types (and Q8_0/Q8_1)
constexpr int kQkK = 256;  // values per super-block of the k-quants (and Q8_K)

// Bytes per block.
constexpr size_t kQ4_0Bytes = 2 + 16;                 // d, qs[16]
constexpr size_t kQ4_1Bytes = 2 + 2 + 16;             // d, m, qs[16]
constexpr size_t kQ5_0Bytes = 2 + 4 + 16;             // d, qh[4], qs[16]
constexpr size_t kQ5_1Bytes = 2 + 2 + 4 + 16;         // d, m, qh[4], qs[16]
constexpr size_t kQ8_0Bytes = 2 + 32;                 // d, qs[32]
constexpr size_t kQ8_1Bytes = 2 + 2 + 32;             // d, s, qs[32]
constexpr size_t kQ2_KBytes = 16 + 64 + 2 + 2;        // scales[16], qs[64], d, dmin
constexpr size_t kQ3_KBytes = 32 + 64 + 12 + 2;       // hmask[32], qs[64], scales[12], d
constexpr size_t kQ4_KBytes = 2 + 2 + 12 + 128;       // d, dmin, scales[12], qs[128]
constexpr size_t kQ5_KBytes = 2 + 2 + 12 + 32 + 128;  // d, dmin, scales[12], qh[32], qs[128]
constexpr size_t kQ6_KBytes = 128 + 64 + 16 + 2;      // ql[128], qh[64], scales[16], d
constexpr size_t kQ8_KBytes = 4 + 256 + 32;           // d (f32), qs[256], bsums[16] (int16)

// Offsets inside a Q8_K block.
constexpr size_t kQ8_KQs = 4;
constexpr size_t kQ8_KBsums = 4 + 256;

// A block of a legacy activation group (see activation_layout): d[4] (f32), for Q8_1 s[4] (f32),
// then qs[4][32] (int8).
constexpr size_t legacy_group_block_bytes(bool with_sum) {
  return with_sum ? 16 + 16 + 128 : 16 + 128;
}
constexpr size_t legacy_group_qs(bool with_sum) { return with_sum ? 32 : 16; }

// The k-quant and F16/BF16 kernels take one weight row and up to this many activation rows.
constexpr int kMaxActRows = 4;

// The 32-value block types (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1). Their single-activation-row SIMD
// kernel (decoding) keeps lane-wise float sums, so its results are within rounding of — not
// bit-identical to — the batch and scalar kernels.
inline bool is_block32_type(DType type) {
  return type == DType::kQ8_0 || type == DType::kQ4_0 || type == DType::kQ4_1 ||
         type == DType::kQ5_0 || type == DType::kQ5_1;
}

inline uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float bits_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// IEEE half to float, exact for every input, without branches on the common path (the method of
// the FP16 library by M. Dukhan: normals through one scaled conversion, subnormals through a magic
// bias).
inline float half_to_float(uint16_t h) {
  const uint32_t w = static_cast<uint32_t>(h) << 16;
  const uint32_t sign = w & 0x80000000u;
  const uint32_t two_w = w + w;
  const float normalized = bits_float((two_w >> 4) + (0xE0u << 23)) * 0x1.0p-112f;
  const float denormalized = bits_float((two_w >> 17) | (126u << 23)) - 0.5f;
  const uint32_t magnitude = two_w < (1u << 27) ? float_bits(denormalized) : float_bits(normalized);
  return bits_float(sign | magnitude);
}

inline uint16_t load_u16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
inline float load_half(const uint8_t* p) { return half_to_float(load_u16(p)); }
inline float load_f32(const uint8_t* p) {
  float v;
  std::memcpy(&v, p, 4);
  return v;
}
inline int16_t load_i16(const uint8_t* p) {
  int16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
inline uint32_t load_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// The sums of a Q8_K block's values over its 32-value sub-blocks 2i and 2i + 1 (two bsums each,
// at `bsums`) as an int16 pair, sub-block 2i in the low half: what the packed Q4_K/Q5_K kernels
// multiply pairs of minimums by (vpmaddwd).
inline uint32_t q8_k_sum_pair(const uint8_t* bsums, int i) {
  const int s0 = load_i16(bsums + 8 * i) + load_i16(bsums + 8 * i + 2);
  const int s1 = load_i16(bsums + 8 * i + 4) + load_i16(bsums + 8 * i + 6);
  return (static_cast<uint32_t>(s0) & 0xFFFF) | (static_cast<uint32_t>(s1) << 16);
}

// The 6-bit scale and min of sub-block j (0..7) of a Q4_K/Q5_K block (ggml's get_scale_min_k4).
inline void scale_min_k4(int j, const uint8_t* q, uint8_t* sc, uint8_t* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = static_cast<uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *m = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

// The sixteen signed 6-bit scales of a Q3_K block (stored offset by 32).
inline void unpack_q3_k_scales(const uint8_t* packed, int8_t* scales) {
  for (int j = 0; j < 16; ++j) {
    const int low = j < 8 ? (packed[j] & 0xF) : (packed[j - 8] >> 4);
    const int high = (packed[8 + j % 4] >> (2 * (j / 4))) & 3;
    scales[j] = static_cast<int8_t>((low | (high << 4)) - 32);
  }
}

// The kernels of one instruction-set level.
struct KernelTable {
  DotTileFn f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q2_k, q3_k, q4_k, q5_k, q6_k;
  WidenRowFn widen_f16, widen_bf16;
  void (*round_f16)(const float* x, float* dst, int64_t n);      // to the nearest F16, as float
  void (*narrow_f16)(const float* x, uint16_t* dst, int64_t n);  // to the nearest F16's bits
  // One legacy activation group from `count` rows of n floats (prepare_activation_group).
  void (*prepare_legacy)(const float* x, int64_t n, int count, bool with_sum, uint8_t* dst);
  // One Q8_K row (quantize_activation_row).
  void (*quantize_q8_k)(const float* x, uint8_t* dst, int64_t n);
};

// A buffer of at least `bytes` bytes, 64-byte aligned, owned by the calling thread and reused by
// its later calls (it only grows): scratch of the tile kernels, which run on the pool's threads.
// Defined outside the instruction-set targets (quant_dot.cpp), as it uses the standard library.
uint8_t* thread_scratch(size_t bytes);

const KernelTable& scalar_kernels();
const KernelTable& avx2_kernels();         // quant_dot_avx2.cpp
const KernelTable& avx512_kernels();       // quant_dot_avx512.cpp
const KernelTable& avx512_vnni_kernels();  // quant_dot_avx512.cpp

}  // namespace ragkit::embed::ops::detail
