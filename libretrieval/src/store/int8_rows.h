// Int8Rows: a compact copy of float rows, a quarter of their bytes, for walking HNSW graphs.
//
// A graph walk at a million vectors is bound by the bytes it pulls from memory: every neighbour
// it scores is a random 1.5 KB row (384 floats). Scoring the walk on int8 copies reads 388 bytes
// instead, and the final candidates are re-scored on the float rows, so the similarities a
// search returns stay exact — the scheme of Qdrant's scalar quantization with rescoring.
//
// Each row is quantized on its own (no training, so rows can be appended at any time): codes
// c_j = round(x_j / s) with s = max_j |x_j| / 127, stored as d int8 codes followed by the float s.
// A unit vector's components are far below 1, so a per-row scale keeps ~7 bits for every row.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "ragkit/common/simd_isa.h"
#include "store/huge_pages.h"

namespace ragkit::retrieval::store {

class Int8Rows {
 public:
  explicit Int8Rows(size_t dimension) : dimension_(dimension), stride_(dimension + sizeof(float)) {}

  // Quantizes and appends n rows (row-major, n x dimension floats).
  void append(const float* rows, size_t n);
  void clear() { data_.clear(); }
  void shrink_to_fit() { data_.shrink_to_fit(); }
  // Room for `rows` rows without reallocating.
  void reserve(size_t rows);

  size_t size() const { return data_.size() / stride_; }
  size_t capacity() const { return data_.capacity() / stride_; }
  size_t dimension() const { return dimension_; }
  // Bytes of the rows held (room reserved beyond them is never touched, so not resident).
  size_t memory_bytes() const { return data_.size(); }
  // The first byte of a row: for prefetching, with row_bytes().
  const void* row_address(size_t row) const { return data_.data() + row * stride_; }
  size_t row_bytes() const { return stride_; }

  // <q, row>, approximately (the row's quantization error, ~1e-3 for unit vectors).
  float inner_product(const float* q, size_t row) const;

 private:
  size_t dimension_;
  size_t stride_;
  std::vector<int8_t> data_;
  HugePageAdvice huge_pages_;
};

// sum_j q[j] * codes[j] over d values, with the widest vectors this CPU has.
float dot_int8(const float* q, const int8_t* codes, size_t d);
// The same with a chosen instruction set, for tests; false when this CPU lacks it.
bool dot_int8_with(SimdIsa isa, const float* q, const int8_t* codes, size_t d, float* out);

}  // namespace ragkit::retrieval::store
