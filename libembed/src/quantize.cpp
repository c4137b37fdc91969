#include "ragkit/embed/quantize.h"

#include <cmath>
#include <cstring>
#include <string>

#include "ops/kernel_pragmas.h"
#include "ops/quant_dot.h"

RAGKIT_EXACT_FLOAT_OPS()

// ggml's reference quantizers (ggml-quants.c: quantize_row_{q8_0,q4_0,q5_0,q4_K,q6_K}_ref and
// their helpers make_qx_quants / make_qkx2_quants), the functions llama-quantize calls when it has
// no importance matrix. The float arithmetic follows the reference expression by expression —
// the same operand order, int -> float conversions where C makes them, division where it divides
// and no fused multiply-adds (this file is compiled without FMA and C++ does not contract) — so
// that every byte matches. Block layouts as in dequantize.cpp.

namespace ragkit::embed {
namespace {

constexpr int kQk = 32;
constexpr int kQkK = 256;
constexpr float kGroupMaxEps = 1e-15f;  // ggml's GROUP_MAX_EPS: below it a group is all zero

void store_half(uint8_t* p, float f) {
  const uint16_t h = fp32_to_fp16(f);
  std::memcpy(p, &h, 2);
}
float load_half(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return fp16_to_fp32(h);
}

// Round half to even by the 1.5 * 2^23 trick (ggml's nearest_int), valid for |x| < 2^22.
int nearest_int(float x) {
  const float v = x + 12582912.0f;
  uint32_t bits;
  std::memcpy(&bits, &v, 4);
  return static_cast<int>(bits & 0x007fffffu) - 0x00400000;
}

int clamp_int(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

// block_q8_0: d = amax / 127, q = round(x / d) (half away from zero).
void quantize_q8_0(const float* x, uint8_t* y, int64_t n) {
  for (int64_t b = 0; b < n / kQk; ++b, x += kQk, y += 2 + kQk) {
    float amax = 0.0f;
    for (int j = 0; j < kQk; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / ((1 << 7) - 1);
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    store_half(y, d);
    for (int j = 0; j < kQk; ++j) {
      y[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(std::round(x[j] * id)));
    }
  }
}

// block_q4_0 / block_q5_0: d = (the value of largest magnitude) / -8 (-16), then
// q = min(2^bits - 1, trunc(x / d + 2^(bits-1) + 0.5)).
template <int kBits>
void quantize_q4_5_0(const float* x, uint8_t* y, int64_t n) {
  constexpr int kOffset = 1 << (kBits - 1);
  constexpr int kMax = (1 << kBits) - 1;
  constexpr size_t kBlock = kBits == 4 ? 2 + kQk / 2 : 2 + 4 + kQk / 2;
  uint8_t* qs = y + (kBits == 4 ? 2 : 6);
  for (int64_t b = 0; b < n / kQk; ++b, x += kQk, y += kBlock, qs += kBlock) {
    float amax = 0.0f;
    float max = 0.0f;
    for (int j = 0; j < kQk; ++j) {
      if (amax < std::fabs(x[j])) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    const float d = max / -kOffset;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    store_half(y, d);
    uint32_t qh = 0;
    for (int j = 0; j < kQk / 2; ++j) {
      const float x0 = x[j] * id;
      const float x1 = x[kQk / 2 + j] * id;
      const int q0 = std::min(kMax, static_cast<int>(static_cast<int8_t>(x0 + (kOffset + 0.5f))));
      const int q1 = std::min(kMax, static_cast<int>(static_cast<int8_t>(x1 + (kOffset + 0.5f))));
      qs[j] = static_cast<uint8_t>((q0 & 0x0F) | ((q1 & 0x0F) << 4));
      qh |= static_cast<uint32_t>((q0 & 0x10) >> 4) << j;
      qh |= static_cast<uint32_t>((q1 & 0x10) >> 4) << (j + kQk / 2);
    }
    if constexpr (kBits == 5) std::memcpy(y + 2, &qh, 4);
  }
}

// ggml's make_qx_quants for rmse_type 1 without importance weights (weights x^2): the symmetric
// scale of n values on levels -nmax..nmax-1, trying 19 scales around nmax / max. L gets the
// levels offset by nmax.
float make_qx_quants(int n, int nmax, const float* x, int8_t* L) {
  float max = 0;
  float amax = 0;
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  if (amax < kGroupMaxEps) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    return 0.0f;
  }
  float iscale = static_cast<float>(-nmax) / max;
  float sumlx = 0;
  float suml2 = 0;
  for (int i = 0; i < n; ++i) {
    const int l = clamp_int(nearest_int(iscale * x[i]), -nmax, nmax - 1);
    L[i] = static_cast<int8_t>(l + nmax);
    const float w = x[i] * x[i];
    const float lf = static_cast<float>(l);
    sumlx += w * x[i] * lf;
    suml2 += w * lf * lf;
  }
  float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    iscale = -(static_cast<float>(nmax) + 0.1f * static_cast<float>(is)) / max;
    sumlx = 0;
    suml2 = 0;
    for (int i = 0; i < n; ++i) {
      const int l = clamp_int(nearest_int(iscale * x[i]), -nmax, nmax - 1);
      const float w = x[i] * x[i];
      const float lf = static_cast<float>(l);
      sumlx += w * x[i] * lf;
      suml2 += w * lf * lf;
    }
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      for (int i = 0; i < n; ++i) {
        L[i] = static_cast<int8_t>(nmax + clamp_int(nearest_int(iscale * x[i]), -nmax, nmax - 1));
      }
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

// ggml's make_qkx2_quants: scale and minimum of n values on levels 0..nmax, minimizing the
// weighted squared error over nstep + 1 candidate scales. Returns the scale; *the_min = -min.
float make_qkx2_quants(int n, int nmax, const float* x, const float* weights, uint8_t* L,
                       float* the_min, uint8_t* Laux, float rmin, float rdelta, int nstep) {
  float min = x[0];
  float max = x[0];
  float sum_w = weights[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    const float w = weights[i];
    sum_w += w;
    sum_x += w * x[i];
  }
  if (min > 0) min = 0;
  if (max == min) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    *the_min = -min;
    return 0.0f;
  }
  const float fmax = static_cast<float>(nmax);
  float iscale = fmax / (max - min);
  float scale = 1 / iscale;
  float best_error = 0;
  for (int i = 0; i < n; ++i) {
    const int l = nearest_int(iscale * (x[i] - min));
    L[i] = static_cast<uint8_t>(clamp_int(l, 0, nmax));
    float diff = scale * static_cast<float>(L[i]) + min - x[i];
    diff = diff * diff;
    best_error += weights[i] * diff;
  }
  for (int is = 0; is <= nstep; ++is) {
    iscale = (rmin + rdelta * static_cast<float>(is) + fmax) / (max - min);
    float sum_l = 0;
    float sum_l2 = 0;
    float sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      const int l = clamp_int(nearest_int(iscale * (x[i] - min)), 0, nmax);
      Laux[i] = static_cast<uint8_t>(l);
      const float w = weights[i];
      const float lf = static_cast<float>(l);
      sum_l += w * lf;
      sum_l2 += w * lf * lf;
      sum_xl += w * lf * x[i];
    }
    const float D = sum_w * sum_l2 - sum_l * sum_l;
    if (D > 0) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      float cur_error = 0;
      for (int i = 0; i < n; ++i) {
        float diff = this_scale * static_cast<float>(Laux[i]) + this_min - x[i];
        diff = diff * diff;
        cur_error += weights[i] * diff;
      }
      if (cur_error < best_error) {
        for (int i = 0; i < n; ++i) L[i] = Laux[i];
        best_error = cur_error;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  *the_min = -min;
  return scale;
}

// The 6-bit scale and min of sub-block j (0..7) of a Q4_K block (ggml's get_scale_min_k4).
void scale_min_k4(int j, const uint8_t* q, uint8_t* sc, uint8_t* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = static_cast<uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *m = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

// block_q4_K: d, dmin (f16), scales[12], qs[128]. Eight sub-blocks of 32 get a scale and a
// minimum from make_qkx2_quants (weights |x| + rms), quantized to 6 bits against the largest;
// then every value is requantized with the stored scales.
void quantize_q4_k(const float* x, uint8_t* y, int64_t n) {
  constexpr size_t kBlock = 2 + 2 + 12 + kQkK / 2;
  uint8_t L[kQkK];
  uint8_t Laux[32];
  float weights[32];
  float mins[kQkK / 32];
  float scales[kQkK / 32];
  for (int64_t b = 0; b < n / kQkK; ++b, x += kQkK, y += kBlock) {
    uint8_t* packed = y + 4;
    float max_scale = 0;
    float max_min = 0;
    for (int j = 0; j < kQkK / 32; ++j) {
      float sum_x2 = 0;
      for (int l = 0; l < 32; ++l) sum_x2 += x[32 * j + l] * x[32 * j + l];
      const float av_x = std::sqrt(sum_x2 / 32);
      for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(x[32 * j + l]);
      scales[j] = make_qkx2_quants(32, 15, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, -1.0f,
                                   0.1f, 20);
      if (scales[j] > max_scale) max_scale = scales[j];
      if (mins[j] > max_min) max_min = mins[j];
    }
    const float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f;
    const float inv_min = max_min > 0 ? 63.0f / max_min : 0.0f;
    for (int j = 0; j < kQkK / 32; ++j) {
      // uint8_t as in ggml: a negative level wraps, then the min() caps it.
      uint8_t ls = static_cast<uint8_t>(nearest_int(inv_scale * scales[j]));
      uint8_t lm = static_cast<uint8_t>(nearest_int(inv_min * mins[j]));
      ls = std::min<uint8_t>(63, ls);
      lm = std::min<uint8_t>(63, lm);
      if (j < 4) {
        packed[j] = ls;
        packed[j + 4] = lm;
      } else {
        packed[j + 4] = static_cast<uint8_t>((ls & 0xF) | ((lm & 0xF) << 4));
        packed[j - 4] |= static_cast<uint8_t>((ls >> 4) << 6);
        packed[j] |= static_cast<uint8_t>((lm >> 4) << 6);
      }
    }
    store_half(y, max_scale / 63.0f);
    store_half(y + 2, max_min / 63.0f);
    for (int j = 0; j < kQkK / 32; ++j) {
      uint8_t sc;
      uint8_t m;
      scale_min_k4(j, packed, &sc, &m);
      const float d = load_half(y) * static_cast<float>(sc);
      if (d == 0.0f) continue;
      const float dm = load_half(y + 2) * static_cast<float>(m);
      for (int i = 0; i < 32; ++i) {
        L[32 * j + i] =
            static_cast<uint8_t>(clamp_int(nearest_int((x[32 * j + i] + dm) / d), 0, 15));
      }
    }
    uint8_t* q = y + 16;
    for (int j = 0; j < kQkK; j += 64, q += 32) {
      for (int l = 0; l < 32; ++l) q[l] = static_cast<uint8_t>(L[j + l] | (L[j + l + 32] << 4));
    }
  }
}

// block_q6_K: ql[128], qh[64], scales[16] (int8), d (f16). Sixteen sub-blocks of 16 get a scale
// from make_qx_quants (levels -32..31), quantized to int8 against the largest; then every value
// is requantized with the stored scales.
void quantize_q6_k(const float* x, uint8_t* y, int64_t n) {
  constexpr size_t kBlock = kQkK / 2 + kQkK / 4 + kQkK / 16 + 2;
  int8_t L[kQkK];
  float scales[kQkK / 16];
  for (int64_t b = 0; b < n / kQkK; ++b, x += kQkK, y += kBlock) {
    int8_t* block_scales = reinterpret_cast<int8_t*>(y + 192);
    float max_scale = 0;
    float max_abs_scale = 0;
    for (int ib = 0; ib < kQkK / 16; ++ib) {
      const float scale = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib);
      scales[ib] = scale;
      const float abs_scale = std::fabs(scale);
      if (abs_scale > max_abs_scale) {
        max_abs_scale = abs_scale;
        max_scale = scale;
      }
    }
    if (max_abs_scale < kGroupMaxEps) {
      std::memset(y, 0, kBlock);
      continue;
    }
    const float iscale = -128.0f / max_scale;
    store_half(y + 208, 1 / iscale);
    for (int ib = 0; ib < kQkK / 16; ++ib) {
      block_scales[ib] = static_cast<int8_t>(std::min(127, nearest_int(iscale * scales[ib])));
    }
    for (int j = 0; j < kQkK / 16; ++j) {
      const float d = load_half(y + 208) * static_cast<float>(block_scales[j]);
      if (d == 0.0f) continue;
      for (int i = 0; i < 16; ++i) {
        L[16 * j + i] =
            static_cast<int8_t>(clamp_int(nearest_int(x[16 * j + i] / d), -32, 31) + 32);
      }
    }
    uint8_t* ql = y;
    uint8_t* qh = y + 128;
    for (int j = 0; j < kQkK; j += 128, ql += 64, qh += 32) {
      for (int l = 0; l < 32; ++l) {
        const int q1 = L[j + l] & 0xF;
        const int q2 = L[j + l + 32] & 0xF;
        const int q3 = L[j + l + 64] & 0xF;
        const int q4 = L[j + l + 96] & 0xF;
        ql[l] = static_cast<uint8_t>(q1 | (q3 << 4));
        ql[l + 32] = static_cast<uint8_t>(q2 | (q4 << 4));
        qh[l] = static_cast<uint8_t>((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) |
                                     ((L[j + l + 64] >> 4) << 4) | ((L[j + l + 96] >> 4) << 6));
      }
    }
  }
}

}  // namespace

bool can_quantize(DType type) {
  switch (type) {
    case DType::kF32:
    case DType::kF16:
    case DType::kBF16:
    case DType::kQ8_0:
    case DType::kQ4_0:
    case DType::kQ5_0:
    case DType::kQ4_K:
    case DType::kQ6_K:
    case DType::kQ8_K:
      return true;
    default:
      return false;
  }
}

Status quantize_row(DType type, const float* src, void* dst, int64_t n) {
  if (!can_quantize(type)) {
    return Status::not_supported(std::string("quantizing to ") + dtype_name(type) +
                                 " is not implemented");
  }
  const Result<size_t> bytes = row_bytes(type, n);
  if (!bytes.ok()) return bytes.status();
  uint8_t* y = static_cast<uint8_t*>(dst);
  switch (type) {
    case DType::kF32:
      std::memcpy(y, src, static_cast<size_t>(n) * sizeof(float));
      break;
    case DType::kF16:
    case DType::kBF16:
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t h = type == DType::kF16 ? fp32_to_fp16(src[i]) : fp32_to_bf16(src[i]);
        std::memcpy(y + 2 * i, &h, 2);
      }
      break;
    case DType::kQ8_0:
      quantize_q8_0(src, y, n);
      break;
    case DType::kQ4_0:
      quantize_q4_5_0<4>(src, y, n);
      break;
    case DType::kQ5_0:
      quantize_q4_5_0<5>(src, y, n);
      break;
    case DType::kQ4_K:
      quantize_q4_k(src, y, n);
      break;
    case DType::kQ6_K:
      quantize_q6_k(src, y, n);
      break;
    case DType::kQ8_K:
      ops::quantize_activation_row(DType::kQ8_K, src, y, n);
      break;
    default:
      break;
  }
  return Status();
}

}  // namespace ragkit::embed
