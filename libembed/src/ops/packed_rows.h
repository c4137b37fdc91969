// Weight rows packed eight at a time: the layout the model loader gives the matrices of the
// one-scale 32-value block types (Q8_0, Q4_0, Q5_0) and of Q4_K where the CPU has AVX-512 VNNI,
// as llama.cpp's CPU backend repacks Q4_0 and Q4_K for its x86 kernels.
//
// Why: the row-wise kernels spend most of their instructions per block on what does not multiply
// (one scale to broadcast, eight integer lanes to turn into float and add, the values to unpack
// for one row), and Q5_0's kernel ran at ~6 bytes per cycle, no faster than memory — so compute
// and memory added up instead of overlapping (quant_dot_simd.h). With eight rows interleaved
// four bytes at a time, one vpdpbusd multiplies four values of each of eight rows by the same four
// activations (broadcast), lane r collecting row r's whole block sum: no reduction, one scale
// vector per eight blocks, and for Q8_0 nothing to unpack at all.
//
// Layout: rows 8g..8g+7 (group g) of a matrix of n values per row (n % 32 == 0, rows % 8 == 0)
// take nb = n / 32 packed blocks (Q4_K: n / 256), groups one after another. Packed block b of a
// group holds block b of each of its eight rows:
//   d: the eight F16 scales (16 bytes), row r at 2r;
//   Q8_0: eight pieces of 32 bytes: piece p, row r at 4r: values 4p..4p+3 as q + 128 (unsigned);
//   Q4_0: four chunks of 32 bytes: chunk h, row r at 4r: the row's qs bytes 4h..4h+3 unchanged,
//     so the low nibbles are values 4h..4h+3 and the high ones values 16+4h..16+4h+3 (q + 8);
//   Q5_0: eight 32-bit masks (32 bytes), mask p bit 4r+k = the fifth bit of row r's value 4p+k,
//     then Q4_0's four chunks (q + 16).
// Q4_K packs the same way per 256-value super-block (n % 256 == 0), 1152 bytes:
//   d: the eight F16 d (16 bytes), then the eight F16 dmin (16 bytes);
//   the scales: three chunks of 32 bytes, chunk w, row r at 4r: the row's scale bytes 4w..4w+3;
//   four pairs of sub-blocks k, each eight chunks of 32 bytes: chunk h, row r at 4r: the row's qs
//     bytes 32k+4h..32k+4h+3, so the low nibbles are values 4h.. of sub-block 2k and the high ones
//     those of sub-block 2k+1.
// The same bytes per weight as the rows themselves (272, 144, 176 and 1152 per packed block).
//
// Results are the scalar kernels' bit for bit: per row and block the exact integer sum, then
// acc += (d_w * d_a) * isum in float, block after block (Q4_K: the exact integers T and M of a
// super-block, then acc += d_a * d_w * T - d_a * dmin_w * M).
//
// Thread-safety: every function may be called concurrently.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ops/quant_dot.h"
#include "ragkit/embed/tensor.h"

namespace ragkit::embed::ops {

constexpr int64_t kPackedRows = 8;  // rows per packed group

// Whether there is a packed kernel for `type` on `isa`.
bool has_packed_kernel(DType type, Isa isa);
inline bool has_packed_kernel(DType type) { return has_packed_kernel(type, active_isa()); }

// Whether a matrix of `type` with `rows` rows of n values can be packed (a packed type, whole
// blocks, rows % 8 == 0), whatever the CPU.
bool can_pack_rows(DType type, int64_t n, int64_t rows);

// Bytes of one packed block (eight rows) of `type`; 0 for a type that does not pack.
size_t packed_block_bytes(DType type);

// Bytes of the packed form of such a matrix.
size_t packed_bytes(DType type, int64_t n, int64_t rows);

// Packs `rows` weight rows (can_pack_rows), row i at w + i * stride (any alignment), into dst
// (packed_bytes bytes, any alignment). Portable code: runs on any CPU.
void pack_rows(DType type, int64_t n, const uint8_t* w, size_t stride, int64_t rows, uint8_t* dst);
// The same for groups [g0, g1) only (rows 8 * g0 .. 8 * g1 - 1), written where pack_rows puts
// them in `packed`, the whole matrix's packed form: callers share a matrix among threads.
void pack_row_groups(DType type, int64_t n, const uint8_t* w, size_t stride, int64_t g0, int64_t g1,
                     uint8_t* packed);

// A block of outputs from packed weights:
//   out[j * out_stride + i] = dot(weight row 8 * g0 + i, activation row a0 + j),
//   i < 8 * n_groups, j < n_act,
// where `packed` is the whole packed matrix and the activations are prepared as for the row-wise
// kernels (activation_layout). Bit-identical to the scalar DotTileFn kernels.
using PackedTileFn = void (*)(int64_t n, const uint8_t* packed, int64_t g0, int64_t n_groups,
                              const uint8_t* acts, size_t group_bytes, int64_t a0, int64_t n_act,
                              float* out, size_t out_stride);
// The kernel of `isa` for packed weights of `type`; nullptr when there is none.
PackedTileFn packed_tile_kernel(DType type, Isa isa);
inline PackedTileFn packed_tile_kernel(DType type) {
  return packed_tile_kernel(type, active_isa());
}

namespace detail {
// The AVX-512 VNNI kernels (packed_rows_avx512vnni.cpp), nullptr for other types.
PackedTileFn avx512_vnni_packed_kernel(DType type);
}  // namespace detail

}  // namespace ragkit::embed::ops
