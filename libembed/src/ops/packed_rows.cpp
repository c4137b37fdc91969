#include "ops/packed_rows.h"

#include <cstring>

#include "ops/quant_dot_common.h"

namespace ragkit::embed::ops {

using namespace detail;  // NOLINT: the shared constants and loaders of the quant_dot files

namespace {

// The block size of a packed type's rows; 0 for the others.
size_t row_block_bytes(DType type) {
  switch (type) {
    case DType::kQ8_0:
      return kQ8_0Bytes;
    case DType::kQ4_0:
      return kQ4_0Bytes;
    case DType::kQ5_0:
      return kQ5_0Bytes;
    case DType::kQ4_K:
      return kQ4_KBytes;
    default:
      return 0;
  }
}

// Values per block of a packed type.
int64_t block_values(DType type) { return type == DType::kQ4_K ? kQkK : kQk; }

// Packed Q4_K block of the eight rows at rows[0..7]: d, dmin, the scale words, the nibbles.
void pack_q4_k_block(const uint8_t* const rows[kPackedRows], uint8_t* dst) {
  for (int r = 0; r < kPackedRows; ++r) {
    std::memcpy(dst + 2 * r, rows[r], 2);           // d
    std::memcpy(dst + 16 + 2 * r, rows[r] + 2, 2);  // dmin
    for (int w = 0; w < 3; ++w) std::memcpy(dst + 32 + 32 * w + 4 * r, rows[r] + 4 + 4 * w, 4);
  }
  for (int k = 0; k < 4; ++k) {
    for (int h = 0; h < 8; ++h) {
      for (int r = 0; r < kPackedRows; ++r) {
        std::memcpy(dst + 128 + 256 * k + 32 * h + 4 * r, rows[r] + 16 + 32 * k + 4 * h, 4);
      }
    }
  }
}

// Packed block b of the eight rows at rows[0..7] (see packed_rows.h).
void pack_block(DType type, const uint8_t* const rows[kPackedRows], uint8_t* dst) {
  if (type == DType::kQ4_K) {
    pack_q4_k_block(rows, dst);
    return;
  }
  for (int r = 0; r < kPackedRows; ++r) std::memcpy(dst + 2 * r, rows[r], 2);  // d
  uint8_t* body = dst + 16;
  if (type == DType::kQ8_0) {
    for (int p = 0; p < 8; ++p) {
      for (int r = 0; r < kPackedRows; ++r) {
        const uint32_t unsigned4 = load_u32(rows[r] + 2 + 4 * p) ^ 0x80808080u;  // q + 128
        std::memcpy(body + 32 * p + 4 * r, &unsigned4, 4);
      }
    }
    return;
  }
  size_t qs = 2;
  if (type == DType::kQ5_0) {
    for (int p = 0; p < 8; ++p) {
      uint32_t mask = 0;
      for (int r = 0; r < kPackedRows; ++r) {
        mask |= ((load_u32(rows[r] + 2) >> (4 * p)) & 0xF) << (4 * r);
      }
      std::memcpy(body + 4 * p, &mask, 4);
    }
    body += 32;
    qs = 6;
  }
  for (int h = 0; h < 4; ++h) {
    for (int r = 0; r < kPackedRows; ++r) {
      std::memcpy(body + 32 * h + 4 * r, rows[r] + qs + 4 * h, 4);
    }
  }
}

}  // namespace

bool has_packed_kernel(DType type, Isa isa) { return packed_tile_kernel(type, isa) != nullptr; }

bool can_pack_rows(DType type, int64_t n, int64_t rows) {
  return row_block_bytes(type) != 0 && n > 0 && n % block_values(type) == 0 && rows > 0 &&
         rows % kPackedRows == 0;
}

size_t packed_block_bytes(DType type) { return row_block_bytes(type) * kPackedRows; }

size_t packed_bytes(DType type, int64_t n, int64_t rows) {
  return packed_block_bytes(type) * static_cast<size_t>(n / block_values(type)) *
         static_cast<size_t>(rows / kPackedRows);
}

void pack_rows(DType type, int64_t n, const uint8_t* w, size_t stride, int64_t rows, uint8_t* dst) {
  pack_row_groups(type, n, w, stride, 0, rows / kPackedRows, dst);
}

void pack_row_groups(DType type, int64_t n, const uint8_t* w, size_t stride, int64_t g0, int64_t g1,
                     uint8_t* packed) {
  const int64_t nb = n / block_values(type);
  const size_t block = row_block_bytes(type);
  uint8_t* dst = packed + static_cast<size_t>(g0 * nb) * packed_block_bytes(type);
  for (int64_t g = g0; g < g1; ++g) {
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* at[kPackedRows];
      for (int r = 0; r < kPackedRows; ++r) {
        at[r] =
            w + static_cast<size_t>(g * kPackedRows + r) * stride + static_cast<size_t>(b) * block;
      }
      pack_block(type, at, dst);
      dst += packed_block_bytes(type);
    }
  }
}

PackedTileFn packed_tile_kernel(DType type, Isa isa) {
  if (isa != Isa::kAvx512Vnni || !isa_supported(isa)) return nullptr;
  return detail::avx512_vnni_packed_kernel(type);
}

}  // namespace ragkit::embed::ops
