// DType and TensorView: a non-owning view of a weight tensor, wherever its bytes live (an mmap'd
// GGUF or safetensors file, or a buffer owned by the model).
//
// Shapes use the ggml convention: ne[0] is the number of values in one row (the innermost,
// contiguous dimension), ne[1] the number of rows, and so on. A PyTorch nn.Linear weight of shape
// [out, in] is ne = {in, out}: row r holds the `in` weights of output feature r.
// Quantized types store each row as row_length / block_size blocks of type_size bytes.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "ragkit/common/status.h"

namespace ragkit::embed {

// Values are ggml's type ids, as stored in GGUF tensor infos.
enum class DType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ8_1 = 9,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  kI8 = 24,
  kI16 = 25,
  kI32 = 26,
  kI64 = 27,
  kF64 = 28,
  kBF16 = 30,
};

struct DTypeTraits {
  const char* name;     // ggml's name: "F32", "Q8_0", "Q4_K", ...
  int64_t block_size;   // values per block (1 for plain types)
  size_t type_size;     // bytes per block
  bool known;           // false for ids ragkit does not know
};

// Traits of any type id (unknown ids give known = false and name "unknown").
DTypeTraits dtype_traits(DType type);
inline const char* dtype_name(DType type) { return dtype_traits(type).name; }
// Parses "F32", "q8_0", ... (case-insensitive).
Result<DType> dtype_from_name(std::string_view name);

// Bytes of a row of n values, or an error if n is not a multiple of the block size or the
// type is unknown. Overflow-checked.
Result<size_t> row_bytes(DType type, int64_t n);

struct TensorView {
  std::string_view name;
  DType dtype = DType::kF32;
  int n_dims = 0;
  std::array<int64_t, 4> ne{1, 1, 1, 1};
  const void* data = nullptr;
  size_t n_bytes = 0;

  int64_t row_length() const { return ne[0]; }
  int64_t n_rows() const { return ne[1] * ne[2] * ne[3]; }
  int64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
  size_t row_stride() const { return n_rows() > 0 ? n_bytes / static_cast<size_t>(n_rows()) : 0; }
  const uint8_t* row(int64_t r) const { return static_cast<const uint8_t*>(data) + r * row_stride(); }
  // "[384, 1536] F16"
  std::string describe() const;
};

// Converts n values of one row (n a multiple of the block size) to float.
// Implemented for F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 and Q2_K..Q6_K (bit-exact with
// llama.cpp's dequantize_row_*); returns not_supported for the rest. Never reads past
// src + row_bytes(type, n).
Status dequantize_row(DType type, const void* src, float* dst, int64_t n);
bool can_dequantize(DType type);

// IEEE half and bfloat16 conversions (round to nearest even for the narrowing ones).
float fp16_to_fp32(uint16_t h);
uint16_t fp32_to_fp16(float f);
float bf16_to_fp32(uint16_t h);
uint16_t fp32_to_bf16(float f);

}  // namespace ragkit::embed
