// Weight quantization: F32 rows to ggml's block types exactly as llama.cpp's llama-quantize writes
// them without an importance matrix (ggml's quantize_row_*_ref), and whole GGUF models to a
// quantized GGUF (`rag quantize`).
//
// quantize_gguf picks each tensor's type the way llama-quantize does for the same target:
//   - Only 2-D (or higher) tensors whose names end in "weight" are quantized; norms
//     ("*_norm.weight"), position_embd, token_types, expert gates and biases are copied unchanged.
//   - Target Q4_K is llama.cpp's Q4_K_M mixture (general.file_type 15): attn_v and ffn_down of the
//     layers use_more_bits() picks (the first and last eighth, and every third one between) get
//     Q6_K. For every quantized target, output.weight (or token_embd.weight when there is no
//     separate output matrix) gets Q6_K, or Q8_0 when its rows are not a multiple of 256.
//   - Rows that the chosen type cannot hold fall back per tensor as in llama.cpp: Q4_K -> Q5_0,
//     Q6_K -> Q8_0, and then F16 when the row is not a multiple of 32 either. Where llama-quantize
//     gives up instead (Q8_0/Q4_0/Q5_0 targets and rows not a multiple of 32, e.g. stories260K's
//     172-wide ffn_down) ragkit also falls back to F16, so every model quantizes.
//   - Tensors already in a block-quantized type are dequantized and quantized again only with
//     QuantizeOptions::allow_requantize (llama-quantize --allow-requantize): the errors add up.
//     F16/BF16 inputs are widened to F32 first (exact) and need no option.
//   - All metadata is copied; general.file_type is set to llama.cpp's ftype for the target and
//     general.quantization_version to 2.
// Not done: importance matrices, the Q2_K/Q3_K/Q5_K and IQ targets, llama.cpp's mixture rules for
// fused attn_qkv tensors, mixtures of experts and 70B models (their tensors keep the target type).
//
// Thread-safety: the functions are reentrant; quantize_gguf runs its work on options.pool.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "ragkit/common/status.h"
#include "ragkit/common/thread_pool.h"
#include "ragkit/embed/tensor.h"

namespace ragkit::embed {

// Whether quantize_row() can write `type`: F32, F16, BF16, Q8_0, Q4_0, Q5_0, Q4_K, Q6_K, Q8_K.
bool can_quantize(DType type);

// Converts n floats (n a multiple of the type's block size) into row_bytes(type, n) bytes at dst
// (any alignment). Byte for byte llama.cpp's quantize_row_*_ref for the block types (what
// llama-quantize writes without an importance matrix), round-to-nearest-even for F16/BF16.
Status quantize_row(DType type, const float* src, void* dst, int64_t n);

struct QuantizeOptions {
  // Quantize tensors that are already block-quantized again (dequantized to F32 first).
  // Default: false — such a tensor is an error, as in llama-quantize.
  bool allow_requantize = false;
  // Runs the row quantization. Default: nullptr, ThreadPool::default_pool().
  ThreadPool* pool = nullptr;
};

// What happened to one tensor.
struct QuantizedTensor {
  std::string name;
  int n_dims = 0;
  std::array<int64_t, 4> ne{1, 1, 1, 1};
  DType from = DType::kF32;
  DType to = DType::kF32;
  size_t bytes_in = 0;
  size_t bytes_out = 0;
  // Why `to` is not the target type ("" when it is): "kept: 1-D", "output matrix",
  // "Q4_K_M: more bits for this layer's attn_v", "172 values per row: not a multiple of 32", ...
  std::string note;
};

struct QuantizeReport {
  DType target = DType::kF32;
  uint32_t file_type = 0;                // general.file_type written
  std::vector<QuantizedTensor> tensors;  // in file order
  size_t bytes_in = 0;                   // tensor data read
  size_t bytes_out = 0;                  // tensor data written
};

// llama.cpp's general.file_type for a quantize_gguf target: F32 0, F16 1, Q4_0 2, Q8_0 7, Q5_0 8,
// Q4_K 15 (Q4_K_M), Q6_K 18, BF16 32; not_supported for other types.
Result<uint32_t> gguf_file_type(DType target);

// Reads the GGUF `in`, quantizes it to `target` (F16, BF16, Q8_0, Q4_0, Q5_0, Q4_K or Q6_K; see
// the rules above) and writes the GGUF `out` atomically: through a temporary file renamed into
// place, nothing left behind on error.
Result<QuantizeReport> quantize_gguf(const std::string& in, const std::string& out, DType target,
                                     const QuantizeOptions& options = {});

}  // namespace ragkit::embed
