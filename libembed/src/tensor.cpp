#include "ragkit/embed/tensor.h"

#include <cctype>
#include <cstring>
#include <limits>

#include "dequantize.h"

namespace ragkit::embed {

DTypeTraits dtype_traits(DType type) {
  switch (type) {
    case DType::kF32: return {"F32", 1, 4, true};
    case DType::kF16: return {"F16", 1, 2, true};
    case DType::kBF16: return {"BF16", 1, 2, true};
    case DType::kF64: return {"F64", 1, 8, true};
    case DType::kI8: return {"I8", 1, 1, true};
    case DType::kI16: return {"I16", 1, 2, true};
    case DType::kI32: return {"I32", 1, 4, true};
    case DType::kI64: return {"I64", 1, 8, true};
    case DType::kQ4_0: return {"Q4_0", 32, 2 + 16, true};
    case DType::kQ4_1: return {"Q4_1", 32, 2 + 2 + 16, true};
    case DType::kQ5_0: return {"Q5_0", 32, 2 + 4 + 16, true};
    case DType::kQ5_1: return {"Q5_1", 32, 2 + 2 + 4 + 16, true};
    case DType::kQ8_0: return {"Q8_0", 32, 2 + 32, true};
    case DType::kQ8_1: return {"Q8_1", 32, 4 + 32, true};
    case DType::kQ2_K: return {"Q2_K", 256, 256 / 16 + 256 / 4 + 2 + 2, true};
    case DType::kQ3_K: return {"Q3_K", 256, 256 / 8 + 256 / 4 + 12 + 2, true};
    case DType::kQ4_K: return {"Q4_K", 256, 2 + 2 + 12 + 256 / 2, true};
    case DType::kQ5_K: return {"Q5_K", 256, 2 + 2 + 12 + 256 / 8 + 256 / 2, true};
    case DType::kQ6_K: return {"Q6_K", 256, 256 / 2 + 256 / 4 + 256 / 16 + 2, true};
    case DType::kQ8_K: return {"Q8_K", 256, 4 + 256 + 256 / 16 * 2, true};
  }
  return {"unknown", 1, 0, false};
}

Result<DType> dtype_from_name(std::string_view name) {
  static constexpr DType kAll[] = {
      DType::kF32,  DType::kF16,  DType::kBF16, DType::kF64,  DType::kI8,   DType::kI16,
      DType::kI32,  DType::kI64,  DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1,
      DType::kQ8_0, DType::kQ8_1, DType::kQ2_K, DType::kQ3_K, DType::kQ4_K, DType::kQ5_K,
      DType::kQ6_K, DType::kQ8_K};
  for (DType t : kAll) {
    const char* n = dtype_traits(t).name;
    if (std::strlen(n) != name.size()) continue;
    bool same = true;
    for (size_t i = 0; i < name.size(); ++i) {
      if (std::toupper(static_cast<unsigned char>(name[i])) != n[i]) same = false;
    }
    if (same) return t;
  }
  return Status::invalid_argument("unknown tensor type '" + std::string(name) + "'");
}

Result<size_t> row_bytes(DType type, int64_t n) {
  DTypeTraits tr = dtype_traits(type);
  if (!tr.known) {
    return Status::not_supported("unknown tensor type id " +
                                 std::to_string(static_cast<uint32_t>(type)));
  }
  if (n < 0 || n % tr.block_size != 0) {
    return Status::invalid_argument(std::string("a row of ") + std::to_string(n) + " values is not a multiple of the " +
                                    tr.name + " block size " + std::to_string(tr.block_size));
  }
  uint64_t blocks = static_cast<uint64_t>(n / tr.block_size);
  if (blocks > std::numeric_limits<uint64_t>::max() / tr.type_size) {
    return Status::out_of_range("tensor row size overflows");
  }
  return static_cast<size_t>(blocks * tr.type_size);
}

std::string TensorView::describe() const {
  std::string s = "[";
  for (int d = 0; d < std::max(1, n_dims); ++d) {
    if (d) s += ", ";
    s += std::to_string(ne[d]);
  }
  s += "] ";
  s += dtype_name(dtype);
  return s;
}

float fp16_to_fp32(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while ((mant & 0x400u) == 0);
      mant &= 0x3ffu;
      bits = sign | static_cast<uint32_t>(127 - 15 - e) << 23 | mant << 13;
    }
  } else if (exp == 0x1f) {
    bits = sign | 0x7f800000u | mant << 13;
  } else {
    bits = sign | (exp + 127 - 15) << 23 | mant << 13;
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t fp32_to_fp16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t abs = x & 0x7fffffffu;
  if (abs > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);  // NaN
  if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u); // overflow -> inf
  if (abs < 0x38800000u) {                                              // subnormal or zero
    if (abs < 0x33000000u) return static_cast<uint16_t>(sign);          // rounds to zero
    uint32_t e = abs >> 23;
    uint32_t m = (abs & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126 - e;  // 14 - (e - 127) + 13 - 1 ... exact for half subnormals
    uint32_t half_m = m >> (shift - 0);
    uint32_t rem = m & ((1u << shift) - 1);
    uint32_t halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (half_m & 1u))) ++half_m;
    return static_cast<uint16_t>(sign | half_m);
  }
  uint32_t e = (abs >> 23) - 127 + 15;
  uint32_t m = abs & 0x7fffffu;
  uint32_t h = (e << 10) | (m >> 13);
  uint32_t rem = m & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;  // may carry into the exponent: fine
  return static_cast<uint16_t>(sign | h);
}

float bf16_to_fp32(uint16_t h) {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t fp32_to_bf16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);  // NaN
  x += 0x7fffu + ((x >> 16) & 1u);
  return static_cast<uint16_t>(x >> 16);
}

bool can_dequantize(DType type) {
  switch (type) {
    case DType::kF32:
    case DType::kF16:
    case DType::kBF16:
    case DType::kQ8_0:
    case DType::kQ4_0:
    case DType::kQ4_1:
    case DType::kQ5_0:
    case DType::kQ5_1:
    case DType::kQ2_K:
    case DType::kQ3_K:
    case DType::kQ4_K:
    case DType::kQ5_K:
    case DType::kQ6_K:
      return true;
    default:
      return false;
  }
}

namespace {

using BlockDequantizer = void (*)(const uint8_t* src, float* dst, int64_t n);

// The block-quantized types whose row converters live in dequantize.cpp; nullptr for the rest.
BlockDequantizer block_dequantizer(DType type) {
  switch (type) {
    case DType::kQ4_0: return dequantize_row_q4_0;
    case DType::kQ4_1: return dequantize_row_q4_1;
    case DType::kQ5_0: return dequantize_row_q5_0;
    case DType::kQ5_1: return dequantize_row_q5_1;
    case DType::kQ2_K: return dequantize_row_q2_k;
    case DType::kQ3_K: return dequantize_row_q3_k;
    case DType::kQ4_K: return dequantize_row_q4_k;
    case DType::kQ5_K: return dequantize_row_q5_k;
    case DType::kQ6_K: return dequantize_row_q6_k;
    default: return nullptr;
  }
}

}  // namespace

Status dequantize_row(DType type, const void* src, float* dst, int64_t n) {
  const uint8_t* p = static_cast<const uint8_t*>(src);
  if (BlockDequantizer fn = block_dequantizer(type)) {
    // The converters trust n; a partial block would make them drop values silently.
    const int64_t block = dtype_traits(type).block_size;
    if (n < 0 || n % block != 0) {
      return Status::invalid_argument(std::string(dtype_name(type)) +
                                      " row length not a multiple of " + std::to_string(block));
    }
    fn(p, dst, n);
    return Status();
  }
  switch (type) {
    case DType::kF32:
      std::memcpy(dst, p, static_cast<size_t>(n) * 4);
      return Status();
    case DType::kF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        dst[i] = fp16_to_fp32(h);
      }
      return Status();
    case DType::kBF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        dst[i] = bf16_to_fp32(h);
      }
      return Status();
    case DType::kQ8_0: {
      if (n % 32 != 0) return Status::invalid_argument("Q8_0 row length not a multiple of 32");
      for (int64_t b = 0; b < n / 32; ++b) {
        const uint8_t* blk = p + b * 34;
        uint16_t dh;
        std::memcpy(&dh, blk, 2);
        float d = fp16_to_fp32(dh);
        const int8_t* q = reinterpret_cast<const int8_t*>(blk + 2);
        for (int j = 0; j < 32; ++j) dst[b * 32 + j] = d * static_cast<float>(q[j]);
      }
      return Status();
    }
    default:
      return Status::not_supported(std::string("dequantizing ") + dtype_name(type) +
                                   " tensors is not implemented yet");
  }
}

}  // namespace ragkit::embed
