// Dot products of quantized weight rows with activation rows, the way llama.cpp's CPU backend
// computes them: the activations are first converted to the weight type's companion format (its
// "vec_dot_type": F16 for F16 weights, BF16 for BF16, Q8_0 for Q4_0/Q5_0/Q8_0, Q8_1 for
// Q4_1/Q5_1, Q8_K for the k-quants), then every block contributes d_w * d_a * sum(q_w * q_a)
// (plus the block-minimum terms of the _1 and K types). The integer sums are exact, and for the
// quantized types every instruction-set variant turns them into float with the same operations:
// results are bit-identical across levels (F16/BF16 agree to rounding).
//
// Kernels exist for scalar C++, AVX2 (+FMA, F16C) and AVX-512 (F/BW/VL/DQ, with or without VNNI;
// 256-bit vectors, see quant_dot_avx512.cpp).
// The best level the CPU supports is found once (cpuid); tests and benchmarks may force a lower
// one with force_isa(). Weight rows and activation rows may start at any byte address: GGUF data
// is only 32-byte aligned per tensor and rows of block types fall at any offset.
//
// Thread-safety: every function here may be called concurrently. force_isa() changes what later
// calls of active_isa() return; call it while no matmul runs (tests, benchmark setup).
#pragma once

#include <cstddef>
#include <cstdint>

#include "ragkit/embed/tensor.h"

namespace ragkit::embed::ops {

enum class Isa : int {
  kScalar = 0,
  kAvx2 = 1,        // AVX2 + FMA + F16C
  kAvx512 = 2,      // AVX-512 F/BW/VL/DQ (+ the AVX2 set), no VNNI
  kAvx512Vnni = 3,  // the above + AVX512-VNNI (vpdpbusd)
};
constexpr Isa kAllIsas[] = {Isa::kScalar, Isa::kAvx2, Isa::kAvx512, Isa::kAvx512Vnni};

const char* isa_name(Isa isa);
// Whether this CPU can run the kernels of `isa` (cpuid, checked once).
bool isa_supported(Isa isa);
// The best supported level.
Isa best_isa();
// The level linear() and dot kernels use: best_isa() unless forced.
Isa active_isa();
// Forces `isa` for later calls (false, and no change, when the CPU lacks it).
bool force_isa(Isa isa);
// Back to best_isa().
void clear_forced_isa();

// The activation format a weight type's dot kernel reads (llama.cpp's vec_dot_type), or kF32
// when the weight type has no dot kernel.
DType activation_type(DType weight);
// Whether vec_dot_kernel() has a kernel for `weight`.
bool has_dot_kernel(DType weight);

// Converts n floats to activation format `act` (kF16, kBF16, kQ8_0, kQ8_1 or kQ8_K; n a multiple
// of its block size) into dst (row_bytes(act, n) bytes, any alignment). Bit-exact with the
// conversion llama.cpp's x86 CPU backend applies to a matmul's activations:
//   F16/BF16: round to nearest even.
//   Q8_0/Q8_1: per 32 values amax = max|x|, d = amax / 127 (stored as F16), q = round-half-even
//              (x * (127 / amax)); Q8_1 also stores s = F16(d * sum(q)).
//   Q8_K: per 256 values m = the first value of largest |x|, iscale = -127 / m,
//         q = min(127, round-half-even(iscale * x)), d = 1 / iscale (F32), bsums = sums of 16 q's.
void quantize_activation_row(DType act, const float* x, void* dst, int64_t n);

// Rounds n floats to the nearest F16 (act = kF16) or BF16 (kBF16) value, kept as float: the
// activations of an F16/BF16 matmul in llama.cpp, for paths that multiply in F32 (the products of
// two such values are exact in float).
void round_activation_row(DType act, const float* x, float* dst, int64_t n);

// ---- Activations prepared for the kernels, and the kernels -------------------------------------
// linear() converts a batch of activation rows once, then computes blocks of outputs from them.
// The prepared layout depends on the weight type:
//   F16, BF16 and the k-quants: groups of one row, quantize_activation_row's output (row_bytes of
//     the activation type).
//   The legacy types (Q8_0 / Q8_1 activations): groups of four rows, block-interleaved so that one
//     load gives four rows' scales: per 32 values, the four rows' d as F32 (the F16 values
//     widened), for Q8_1 their four s as F32, then the four rows' 32 int8 values. A group with
//     fewer rows is padded with zero rows.
constexpr int kGroupRows = 4;  // rows per group of the legacy types
struct ActivationLayout {
  int group_rows = 1;      // 4 or 1
  size_t group_bytes = 0;  // bytes per group of rows of n values
};
// The layout for weights of type `weight` (has_dot_kernel) and rows of n values.
ActivationLayout activation_layout(DType weight, int64_t n);
// Converts `count` rows (1..group_rows; x: count * n floats, row after row) into one group at
// dst (layout.group_bytes bytes, any alignment), with the conversion of quantize_activation_row.
void prepare_activation_group(DType weight, const float* x, int64_t n, int count, void* dst);

// A block of outputs:
//   out[j * out_stride + i] = dot(weight row i, activation row a0 + j),  i < n_w, j < n_act,
// where weight row i starts at w + i * w_stride (rows of n values; any alignment) and activation
// row a sits in group a / group_rows of `acts` (groups group_bytes apart, any alignment).
// Per output, every kernel adds up the same thing: the exact integer sum of a block's (or a
// super-block's) products, scaled in float as llama.cpp's scalar code does
//   legacy:   acc += (d_w * d_a) * isum  [+ m_w * s_a for Q4_1/Q5_1]
//   k-quants: acc += d_a * d_w * T - d_a * dmin_w * M   (T, M: the super-block's integer sums)
// so the quantized types give bit-identical results on every instruction-set level, and an
// output never depends on which other rows share its block (a token's output is the same in any
// batch). F16/BF16 sum products in float lanes: equal to ~1e-6, not bit for bit.
using DotTileFn = void (*)(int64_t n, const uint8_t* w, size_t w_stride, int64_t n_w,
                           const uint8_t* acts, size_t group_bytes, int64_t a0, int64_t n_act,
                           float* out, size_t out_stride);
// The kernel of `isa` for weights of type `weight`; nullptr when there is none.
DotTileFn dot_tile_kernel(DType weight, Isa isa);
inline DotTileFn dot_tile_kernel(DType weight) { return dot_tile_kernel(weight, active_isa()); }

// dst[i] = the F16 nearest x[i] (ties to even; the bits fp32_to_fp16 gives), on the active ISA.
void narrow_to_f16(const float* x, uint16_t* dst, int64_t n);

// Widens n F16 or BF16 values to float (exact); nullptr for other types.
using WidenRowFn = void (*)(const void* src, float* dst, int64_t n);
WidenRowFn widen_row_kernel(DType type, Isa isa);
inline WidenRowFn widen_row_kernel(DType type) { return widen_row_kernel(type, active_isa()); }

}  // namespace ragkit::embed::ops
