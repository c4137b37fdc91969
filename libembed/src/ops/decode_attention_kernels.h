// The instruction-set kernels behind attend_slice (decode_attention.h), for decode_attention.cpp.
#pragma once

#include <cstdint>

#include "ops/decode_attention.h"

namespace ragkit::embed::ops::detail {

// Prefetches `n` rows of `width` elements, `stride` elements apart, starting `ahead` rows past p,
// with __builtin_prefetch's locality kLocality (3: into L1, as _MM_HINT_T0; 2: into L2, as
// _MM_HINT_T1). Addresses are formed as integers: the rows ahead may lie past the end of the
// cache (a prefetch never faults).
template <int kLocality = 3, class T>
inline void prefetch_rows(const T* p, int64_t ahead, int64_t stride, int64_t n, int64_t width) {
  const auto row_bytes = static_cast<uintptr_t>(width) * sizeof(T);
  const auto stride_bytes = static_cast<uintptr_t>(stride) * sizeof(T);
  uintptr_t row = reinterpret_cast<uintptr_t>(p) + static_cast<uintptr_t>(ahead) * stride_bytes;
  for (int64_t r = 0; r < n; ++r, row += stride_bytes) {
    for (uintptr_t o = 0; o < row_bytes; o += 64) {
      __builtin_prefetch(reinterpret_cast<const char*>(row + o), 0, kLocality);
    }
  }
}

// Whether the AVX-512 kernels take this slice's shape: head_dim a multiple of 16 and at most
// kMaxAvx512Group query heads per key/value head (their accumulators must fit the registers).
inline constexpr int64_t kMaxAvx512Group = 8;
inline bool avx512_attention_fits(const AttentionSlice& s) {
  return s.head_dim % 16 == 0 && s.group >= 1 && s.group <= kMaxAvx512Group;
}

// scores[r * count + t] = scale * dot(q_r, k_t). Only for slices avx512_attention_fits takes,
// on CPUs with AVX-512F (and F16C, FMA).
void scores_avx512(const AttentionSlice& s, float* scores);

// out[r * head_dim + i] = sum_t p[r * count + t] * v_t[i]; the same conditions.
void weighted_values_avx512(const AttentionSlice& s, const float* p, float* out);

}  // namespace ragkit::embed::ops::detail
