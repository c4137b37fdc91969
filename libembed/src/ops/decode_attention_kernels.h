// The instruction-set kernels behind attend_slice (decode_attention.h), for decode_attention.cpp.
#pragma once

#include <cstdint>

#include "ops/decode_attention.h"

namespace ragkit::embed::ops::detail {

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
