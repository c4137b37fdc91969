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
//
// A query is quantized the same way (quantize()), and scored against a row by an exact integer
// dot product of the two sets of codes (dot_codes: one VNNI instruction per 64 dimensions where
// the CPU has it) times the two scales. Graph inserts compare stored rows with each other the
// same way (row_inner_product).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "store/huge_pages.h"

namespace ragkit::retrieval::store {

// sum_j a[j] * b[j] over d codes in [-127, 127], exactly (|sum| < 2^31 for d <= 65536, the
// largest dimension a collection takes), with the best kernel this CPU runs.
int32_t dot_codes(const int8_t* a, const int8_t* b, size_t d);
// The kernels of dot_codes, widest last.
enum class CodesIsa { kScalar, kAvx2, kAvx512Bw, kAvx512Vnni };
// dot_codes with a chosen kernel, for tests; false when this CPU lacks it.
bool dot_codes_with(CodesIsa isa, const int8_t* a, const int8_t* b, size_t d, int32_t* out);

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

  // Drops the rows from `rows` on (an append that must be undone).
  void truncate(size_t rows);

  // <x, row> for x = scale * codes (from quantize()), approximately: both sides are quantized
  // (errors ~1e-3 for unit vectors).
  float inner_product(const int8_t* codes, float scale, size_t row) const {
    return inner_product_at(codes, scale, row_codes(row));
  }
  // The same for the row whose codes start at `row` (a row_codes() pointer).
  float inner_product_at(const int8_t* codes, float scale, const int8_t* row) const {
    float row_scale;
    std::memcpy(&row_scale, row + dimension_, sizeof(float));
    return scale * row_scale * static_cast<float>(dot_codes(codes, row, dimension_));
  }
  // <row a, row b>, both quantized.
  float row_inner_product(size_t a, size_t b) const {
    return inner_product_at(row_codes(a), row_scale(a), row_codes(b));
  }

  const int8_t* row_codes(size_t row) const { return data_.data() + row * stride_; }
  float row_scale(size_t row) const {
    float scale;
    std::memcpy(&scale, row_codes(row) + dimension_, sizeof(float));
    return scale;
  }

  // Writes the `dimension` codes of x (in [-127, 127]) and returns their scale: x ~ scale * codes.
  static float quantize(const float* x, size_t dimension, int8_t* codes);

 private:
  size_t dimension_;
  size_t stride_;
  std::vector<int8_t> data_;
  HugePageAdvice huge_pages_;
};

}  // namespace ragkit::retrieval::store
