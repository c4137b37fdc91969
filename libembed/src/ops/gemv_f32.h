// Matrix-vector work for F32 weights when a batch has only a few rows (decoding): y = x W^T.
// OpenBLAS's sgemm falls back to a "small matrix" kernel there that reads W several times slower
// than memory allows; this streams each weight row once for all the batch's rows, with the widest
// vectors the CPU has (AVX-512, AVX2 or scalar, chosen at run time).
#pragma once

#include <cstdint>

#include "ragkit/common/simd_isa.h"

namespace ragkit::embed::ops {

// Batches of up to this many rows go through gemv_f32 (more rows: sgemm is faster).
inline constexpr int64_t kGemvMaxRows = 4;

// y[r][o] = dot(x[r], w[o]) for r < n (n <= kGemvMaxRows) and o in [o0, o1).
// w: rows of `in` values, w_stride floats apart; x: [n][in]; y: [n][y_stride]. No bias.
void gemv_f32(const float* w, int64_t in, int64_t w_stride, const float* x, int64_t n, float* y,
              int64_t y_stride, int64_t o0, int64_t o1);

// The same with a chosen instruction set, for tests (false when this CPU lacks it).
using GemvIsa = SimdIsa;
bool gemv_f32_with(GemvIsa isa, const float* w, int64_t in, int64_t w_stride, const float* x,
                   int64_t n, float* y, int64_t y_stride, int64_t o0, int64_t o1);

}  // namespace ragkit::embed::ops
