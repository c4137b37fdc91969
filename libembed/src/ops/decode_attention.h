// Attention of one decoded token over its cache, split the way flash-decoding splits it: the
// cached positions of each key/value head are cut into slices, each slice computes its part of
// the softmax for all the query heads that share that key/value head (scores, their maximum, the
// sum of exponentials and the exponential-weighted sum of values), and the parts are merged
// afterwards. Slices make the work even across threads whatever the number of key/value heads
// (three in SmolLM2 over two threads left one thread idle a third of the time), and one pass over
// a slice's keys and values serves every query head of the group.
//
// Scores are computed eight keys at a time with one horizontal reduction for all eight; a dot
// product per key reduced on its own spent more time adding lanes than multiplying.
#pragma once

#include <cstdint>

#include "ragkit/common/simd_isa.h"

namespace ragkit::embed::ops {

// The `group` query heads that share one key/value head, against `count` cached positions.
struct AttentionSlice {
  const float* q = nullptr;      // [group][head_dim], contiguous
  const void* keys = nullptr;    // position t's key at element t * stride
  const void* values = nullptr;  // position t's value at element t * stride
  bool f16 = false;              // keys and values are IEEE half (KvType::kF16), else float
  int64_t stride = 0;            // in elements
  int64_t count = 0;             // > 0
  int64_t group = 0;
  int64_t head_dim = 0;
  float scale = 1.0f;  // the scores are scale * dot(q, k)
};

// A slice's part of the softmax, for each query head r < group:
//   max[r] = max_t s_rt,  sum[r] = sum_t e^(s_rt - max[r]),
//   out[r * head_dim + i] = sum_t e^(s_rt - max[r]) * v_t[i]   (not yet divided by sum[r]).
// scores: scratch of group * count floats.
void attend_slice(const AttentionSlice& slice, float* scores, float* out, float* max, float* sum);

// The same with a chosen instruction set, for tests (false when this CPU lacks it).
bool attend_slice_with(SimdIsa isa, const AttentionSlice& slice, float* scores, float* out,
                       float* max, float* sum);

// One query head's output from the parts of n slices: part c's out at outs + c * out_stride, its
// max and sum at max[c * stat_stride], sum[c * stat_stride].
//   out = sum_c e^(max_c - M) out_c / sum_c e^(max_c - M) sum_c,  M = max_c max_c.
void merge_attention_parts(const float* outs, int64_t out_stride, const float* max,
                           const float* sum, int64_t stat_stride, int64_t n, int64_t head_dim,
                           float* out);

}  // namespace ragkit::embed::ops
