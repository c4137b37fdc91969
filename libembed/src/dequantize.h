// Row dequantizers for ggml's block-quantized types, bit-exact with llama.cpp's
// dequantize_row_* in ggml-quants.c (same block layouts, same float operation order).
// Each converts n values (n a multiple of the type's block size; the caller checks) and reads
// exactly n / block_size blocks from src, which need not be aligned.
#pragma once

#include <cstdint>

namespace ragkit::embed {

void dequantize_row_q4_0(const uint8_t* src, float* dst, int64_t n);
void dequantize_row_q4_1(const uint8_t* src, float* dst, int64_t n);
void dequantize_row_q5_0(const uint8_t* src, float* dst, int64_t n);
void dequantize_row_q5_1(const uint8_t* src, float* dst, int64_t n);
void dequantize_row_q2_k(const uint8_t* src, float* dst, int64_t n);
void dequantize_row_q3_k(const uint8_t* src, float* dst, int64_t n);
void dequantize_row_q4_k(const uint8_t* src, float* dst, int64_t n);
void dequantize_row_q5_k(const uint8_t* src, float* dst, int64_t n);
void dequantize_row_q6_k(const uint8_t* src, float* dst, int64_t n);

}  // namespace ragkit::embed
