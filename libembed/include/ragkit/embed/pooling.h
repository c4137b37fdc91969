// Pooling: how a sequence's token states become one sentence vector, as sentence-transformers
// defines it (mean over all tokens of the sequence, [CLS] and [SEP] included; the first token;
// the last token), and L2 normalisation.
#pragma once

#include <cstddef>
#include <string_view>

#include "ragkit/common/status.h"

namespace ragkit::embed {

enum class Pooling { kMean, kCls, kLast };
const char* pooling_name(Pooling pooling);
Result<Pooling> pooling_from_name(std::string_view name);  // "mean", "cls", "last"

// out[dim] = pooled states[n_tokens][dim] (row-major). n_tokens > 0.
void pool(Pooling pooling, const float* states, size_t n_tokens, size_t dim, float* out);
// Scales v to unit length (sum of squares in double, as llama.cpp and PyTorch's normalize do);
// a zero vector stays zero.
void l2_normalize(float* v, size_t dim);

}  // namespace ragkit::embed
