#include "ops/quant_dot.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include <atomic>
#include <cmath>
#include <cstring>
#include <vector>

#include "ops/kernel_pragmas.h"
#include "ops/quant_dot_common.h"

RAGKIT_EXACT_FLOAT_OPS()

// The activation converters and the scalar kernels. Compiled for the baseline x86-64 target (no
// target attributes): everything here runs on any CPU. The SIMD kernels live in
// quant_dot_avx2.cpp and quant_dot_avx512.cpp.

namespace ragkit::embed::ops {

using namespace detail;  // NOLINT: the shared constants and loaders of the quant_dot files

// ---------------------------------------------------------------------------------------------
// Instruction-set levels.

namespace {

struct CpuLevels {
  bool avx2 = false;
  bool avx512 = false;
  bool vnni = false;
};

const CpuLevels& cpu_levels() {
  static const CpuLevels levels = [] {
    CpuLevels l;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    // F16C (CPUID.1:ECX bit 29) is read directly: clang 14's __builtin_cpu_supports does not
    // know the name, and the fuzzing build uses clang.
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    const bool f16c = __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & (1u << 29)) != 0;
    l.avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c;
    l.avx512 = l.avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
    l.vnni = l.avx512 && __builtin_cpu_supports("avx512vnni");
#endif
    return l;
  }();
  return levels;
}

constexpr int kNotForced = -1;
std::atomic<int> g_forced_isa{kNotForced};

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kScalar:
      return "scalar";
    case Isa::kAvx2:
      return "avx2";
    case Isa::kAvx512:
      return "avx512";
    case Isa::kAvx512Vnni:
      return "avx512-vnni";
  }
  return "unknown";
}

bool isa_supported(Isa isa) {
  const CpuLevels& l = cpu_levels();
  switch (isa) {
    case Isa::kScalar:
      return true;
    case Isa::kAvx2:
      return l.avx2;
    case Isa::kAvx512:
      return l.avx512;
    case Isa::kAvx512Vnni:
      return l.vnni;
  }
  return false;
}

Isa best_isa() {
  const CpuLevels& l = cpu_levels();
  if (l.vnni) return Isa::kAvx512Vnni;
  if (l.avx512) return Isa::kAvx512;
  if (l.avx2) return Isa::kAvx2;
  return Isa::kScalar;
}

Isa active_isa() {
  const int forced = g_forced_isa.load(std::memory_order_relaxed);
  return forced == kNotForced ? best_isa() : static_cast<Isa>(forced);
}

bool force_isa(Isa isa) {
  if (!isa_supported(isa)) return false;
  g_forced_isa.store(static_cast<int>(isa), std::memory_order_relaxed);
  return true;
}

void clear_forced_isa() { g_forced_isa.store(kNotForced, std::memory_order_relaxed); }

// ---------------------------------------------------------------------------------------------
// Activation converters.

DType activation_type(DType weight) {
  switch (weight) {
    case DType::kF16:
      return DType::kF16;
    case DType::kBF16:
      return DType::kBF16;
    case DType::kQ8_0:
    case DType::kQ4_0:
    case DType::kQ5_0:
      return DType::kQ8_0;
    case DType::kQ4_1:
    case DType::kQ5_1:
      return DType::kQ8_1;
    case DType::kQ2_K:
    case DType::kQ3_K:
    case DType::kQ4_K:
    case DType::kQ5_K:
    case DType::kQ6_K:
      return DType::kQ8_K;
    default:
      return DType::kF32;
  }
}

bool has_dot_kernel(DType weight) { return activation_type(weight) != DType::kF32; }

namespace {

// Round half to even for |x| < 2^22, the way ggml's nearest_int does it: adding 1.5 * 2^23 leaves
// the rounded integer in the low mantissa bits (the FPU rounds to nearest even).
inline int nearest_int(float x) {
  const float v = x + 12582912.0f;
  return static_cast<int>(float_bits(v) & 0x007fffffu) - 0x00400000;
}

// One Q8_0/Q8_1 block of 32 values, as x86 ggml's quantize_row_q8_0 / quantize_row_q8_1 make it
// (the AVX paths: 127 / amax as the multiplier, round half to even): the F16 scale d, the F16
// s = d * sum(q), and the 32 values.
void quantize_q8_block(const float* x, uint16_t* d_half, uint16_t* s_half, int8_t* qs) {
  float amax = 0.0f;
  for (int j = 0; j < kQk; ++j) {
    const float a = std::fabs(x[j]);
    amax = a > amax ? a : amax;
  }
  const float d = amax / 127.0f;
  const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
  *d_half = fp32_to_fp16(d);
  int sum = 0;
  for (int j = 0; j < kQk; ++j) {
    const int q = nearest_int(x[j] * id);
    sum += q;
    qs[j] = static_cast<int8_t>(q);
  }
  *s_half = fp32_to_fp16(d * static_cast<float>(sum));
}

void quantize_q8_legacy(const float* x, uint8_t* dst, int64_t n, bool with_sum) {
  const size_t block_bytes = with_sum ? kQ8_1Bytes : kQ8_0Bytes;
  const size_t qs_offset = with_sum ? 4 : 2;
  for (int64_t b = 0; b < n / kQk; ++b) {
    uint8_t* yb = dst + b * block_bytes;
    uint16_t dh, sh;
    int8_t qs[kQk];
    quantize_q8_block(x + b * kQk, &dh, &sh, qs);
    std::memcpy(yb, &dh, 2);
    if (with_sum) std::memcpy(yb + 2, &sh, 2);
    std::memcpy(yb + qs_offset, qs, kQk);
  }
}

// Q8_K: ggml's quantize_row_q8_K_ref (what the x86 CPU backend uses).
void quantize_q8_k(const float* x, uint8_t* dst, int64_t n) {
  for (int64_t b = 0; b < n / kQkK; ++b) {
    const float* xb = x + b * kQkK;
    uint8_t* yb = dst + b * kQ8_KBytes;
    float max = 0.0f;
    float amax = 0.0f;
    for (int j = 0; j < kQkK; ++j) {
      const float ax = std::fabs(xb[j]);
      if (ax > amax) {
        amax = ax;
        max = xb[j];
      }
    }
    if (amax == 0.0f) {
      std::memset(yb, 0, kQ8_KBytes);
      continue;
    }
    const float iscale = -127.0f / max;
    int8_t q[kQkK];
    for (int j = 0; j < kQkK; ++j) {
      const int v = nearest_int(iscale * xb[j]);
      q[j] = static_cast<int8_t>(v < 127 ? v : 127);
    }
    std::memcpy(yb + kQ8_KQs, q, kQkK);
    for (int j = 0; j < kQkK / 16; ++j) {
      int sum = 0;
      for (int i = 0; i < 16; ++i) sum += q[16 * j + i];
      const int16_t s = static_cast<int16_t>(sum);
      std::memcpy(yb + kQ8_KBsums + 2 * j, &s, 2);
    }
    const float d = 1.0f / iscale;
    std::memcpy(yb, &d, 4);
  }
}

bool is_legacy(DType weight) {
  const DType act = activation_type(weight);
  return act == DType::kQ8_0 || act == DType::kQ8_1;
}

}  // namespace

void quantize_activation_row(DType act, const float* x, void* dst, int64_t n) {
  uint8_t* out = static_cast<uint8_t*>(dst);
  switch (act) {
    case DType::kF16:
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t h = fp32_to_fp16(x[i]);
        std::memcpy(out + 2 * i, &h, 2);
      }
      return;
    case DType::kBF16:
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t h = fp32_to_bf16(x[i]);
        std::memcpy(out + 2 * i, &h, 2);
      }
      return;
    case DType::kQ8_0:
      quantize_q8_legacy(x, out, n, /*with_sum=*/false);
      return;
    case DType::kQ8_1:
      quantize_q8_legacy(x, out, n, /*with_sum=*/true);
      return;
    case DType::kQ8_K:
      quantize_q8_k(x, out, n);
      return;
    default:
      return;
  }
}

ActivationLayout activation_layout(DType weight, int64_t n) {
  ActivationLayout layout;
  if (is_legacy(weight)) {
    layout.group_rows = kGroupRows;
    layout.group_bytes = static_cast<size_t>(n / kQk) *
                         legacy_group_block_bytes(activation_type(weight) == DType::kQ8_1);
  } else {
    const Result<size_t> bytes = row_bytes(activation_type(weight), n);
    layout.group_bytes = bytes.ok() ? *bytes : 0;
  }
  return layout;
}

namespace {

// A legacy activation group (activation_layout), block by block.
void prepare_legacy_scalar(const float* x, int64_t n, int count, bool with_sum, uint8_t* out) {
  const size_t block_bytes = legacy_group_block_bytes(with_sum);
  const size_t qs = legacy_group_qs(with_sum);
  for (int64_t b = 0; b < n / kQk; ++b) {
    uint8_t* gb = out + b * block_bytes;
    float d[kGroupRows] = {}, s[kGroupRows] = {};
    for (int r = 0; r < kGroupRows; ++r) {
      int8_t* q = reinterpret_cast<int8_t*>(gb + qs + kQk * r);
      if (r >= count) {
        std::memset(q, 0, kQk);
        continue;
      }
      uint16_t dh, sh;
      quantize_q8_block(x + r * n + b * kQk, &dh, &sh, q);
      d[r] = half_to_float(dh);
      s[r] = half_to_float(sh);
    }
    std::memcpy(gb, d, sizeof(d));
    if (with_sum) std::memcpy(gb + 16, s, sizeof(s));
  }
}

const KernelTable& table_for(Isa isa);

}  // namespace

void prepare_activation_group(DType weight, const float* x, int64_t n, int count, void* dst) {
  uint8_t* out = static_cast<uint8_t*>(dst);
  const KernelTable& table = table_for(active_isa());
  const DType act = activation_type(weight);
  if (is_legacy(weight)) {
    table.prepare_legacy(x, n, count, act == DType::kQ8_1, out);
  } else if (act == DType::kQ8_K) {
    table.quantize_q8_k(x, out, n);
  } else {
    quantize_activation_row(act, x, out, n);
  }
}

// ---------------------------------------------------------------------------------------------
// Scalar kernels: the integer math spelled out, one block at a time.

namespace {

const uint8_t* bytes(const void* p) { return static_cast<const uint8_t*>(p); }

void dot_f16_scalar(int64_t n, const uint8_t* w, const uint8_t* act, size_t stride, int n_act,
                    float* out) {
  // Products of two halves are exact in float; sum them in double like ggml's scalar path.
  for (int j = 0; j < n_act; ++j) {
    const uint8_t* a = act + j * stride;
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) {
      sum += static_cast<double>(load_half(w + 2 * i) * load_half(a + 2 * i));
    }
    out[j] = static_cast<float>(sum);
  }
}

void dot_bf16_scalar(int64_t n, const uint8_t* w, const uint8_t* act, size_t stride, int n_act,
                     float* out) {
  for (int j = 0; j < n_act; ++j) {
    const uint8_t* a = act + j * stride;
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) {
      const float wv = bits_float(static_cast<uint32_t>(load_u16(w + 2 * i)) << 16);
      const float av = bits_float(static_cast<uint32_t>(load_u16(a + 2 * i)) << 16);
      sum += static_cast<double>(wv * av);
    }
    out[j] = static_cast<float>(sum);
  }
}

// A legacy weight block unpacked: 32 integer values (signed for the _0 types, unsigned for the _1
// types), the scale d and, for the _1 types, the minimum m.
struct LegacyBlock {
  int q[kQk];
  float d;
  float m;
};

void unpack_q8_0(const uint8_t* b, LegacyBlock* out) {
  out->d = load_half(b);
  out->m = 0;
  for (int j = 0; j < kQk; ++j) out->q[j] = static_cast<int8_t>(b[2 + j]);
}

void unpack_q4_0(const uint8_t* b, LegacyBlock* out) {
  out->d = load_half(b);
  out->m = 0;
  for (int j = 0; j < kQk / 2; ++j) {
    out->q[j] = (b[2 + j] & 0xF) - 8;
    out->q[j + kQk / 2] = (b[2 + j] >> 4) - 8;
  }
}

void unpack_q4_1(const uint8_t* b, LegacyBlock* out) {
  out->d = load_half(b);
  out->m = load_half(b + 2);
  for (int j = 0; j < kQk / 2; ++j) {
    out->q[j] = b[4 + j] & 0xF;
    out->q[j + kQk / 2] = b[4 + j] >> 4;
  }
}

// The 5-bit values of Q5_0/Q5_1: low nibbles as Q4, bit j of qh is the fifth bit of value j.
void unpack_5bit(uint32_t qh, const uint8_t* qs, int offset, int* q) {
  for (int j = 0; j < kQk / 2; ++j) {
    q[j] = static_cast<int>((qs[j] & 0xF) | (((qh >> j) & 1u) << 4)) - offset;
    q[j + kQk / 2] = static_cast<int>((qs[j] >> 4) | (((qh >> (j + 16)) & 1u) << 4)) - offset;
  }
}

void unpack_q5_0(const uint8_t* b, LegacyBlock* out) {
  out->d = load_half(b);
  out->m = 0;
  unpack_5bit(load_u32(b + 2), b + 6, 16, out->q);
}

void unpack_q5_1(const uint8_t* b, LegacyBlock* out) {
  out->d = load_half(b);
  out->m = load_half(b + 2);
  unpack_5bit(load_u32(b + 4), b + 8, 0, out->q);
}

// sum over blocks of (d_w * d_a) * isum  [+ m_w * s_a for the _1 types], isum = sum(q_w * q_a)
// exact, for every weight row x activation row of the tile. Activations in groups of four rows
// (activation_layout).
template <size_t kBlockBytes, bool kWithMin, void (*kUnpack)(const uint8_t*, LegacyBlock*)>
void tile_legacy_scalar(int64_t n, const uint8_t* w, size_t w_stride, int64_t n_w,
                        const uint8_t* acts, size_t group_bytes, int64_t a0, int64_t n_act,
                        float* out, size_t out_stride) {
  constexpr size_t kActBlock = legacy_group_block_bytes(kWithMin);
  constexpr size_t kActQs = legacy_group_qs(kWithMin);
  const int64_t nb = n / kQk;
  LegacyBlock blk;
  for (int64_t i = 0; i < n_w; ++i) {
    for (int64_t j = 0; j < n_act; ++j) {
      const int64_t a = a0 + j;
      const uint8_t* group = acts + (a / kGroupRows) * group_bytes;
      const int r = static_cast<int>(a % kGroupRows);
      float sum = 0;
      for (int64_t b = 0; b < nb; ++b) {
        kUnpack(w + i * w_stride + b * kBlockBytes, &blk);
        const uint8_t* ab = group + b * kActBlock;
        const int8_t* q = reinterpret_cast<const int8_t*>(ab + kActQs + kQk * r);
        int isum = 0;
        for (int k = 0; k < kQk; ++k) isum += blk.q[k] * q[k];
        const float da = load_f32(ab + 4 * r);
        if constexpr (kWithMin) {
          sum += (blk.d * da) * static_cast<float>(isum) + blk.m * load_f32(ab + 16 + 4 * r);
        } else {
          sum += (blk.d * da) * static_cast<float>(isum);
        }
      }
      out[j * out_stride + i] = sum;
    }
  }
}

// A k-quant super-block unpacked: 256 unsigned values u, each value being u - offset; one scale
// (and, for Q2_K/Q4_K/Q5_K, one minimum) per sub-block of `sub` values. The weight of value i is
//   d * scale[i / sub] * (u[i] - offset) - dmin * min[i / sub].
struct KBlock {
  uint8_t u[kQkK];
  int sub;
  int offset;
  int scale[16];
  int min[16];
  float d;
  float dmin;
};

void unpack_q2_k(const uint8_t* b, KBlock* out) {
  const uint8_t* scales = b;
  const uint8_t* qs = b + 16;
  out->d = load_half(b + 80);
  out->dmin = load_half(b + 82);
  out->sub = 16;
  out->offset = 0;
  for (int j = 0; j < 16; ++j) {
    out->scale[j] = scales[j] & 0xF;
    out->min[j] = scales[j] >> 4;
  }
  for (int h = 0; h < 2; ++h) {
    for (int s = 0; s < 4; ++s) {
      for (int l = 0; l < 32; ++l) {
        out->u[128 * h + 32 * s + l] = (qs[32 * h + l] >> (2 * s)) & 3;
      }
    }
  }
}

void unpack_q3_k(const uint8_t* b, KBlock* out) {
  const uint8_t* hmask = b;
  const uint8_t* qs = b + 32;
  out->d = load_half(b + 108);
  out->dmin = 0;
  out->sub = 16;
  out->offset = 4;
  int8_t scales[16];
  unpack_q3_k_scales(b + 96, scales);
  for (int j = 0; j < 16; ++j) {
    out->scale[j] = scales[j];
    out->min[j] = 0;
  }
  for (int h = 0; h < 2; ++h) {
    for (int s = 0; s < 4; ++s) {
      const int bit = 4 * h + s;
      for (int l = 0; l < 32; ++l) {
        const int low = (qs[32 * h + l] >> (2 * s)) & 3;
        const int high = (hmask[l] >> bit) & 1;
        out->u[128 * h + 32 * s + l] = static_cast<uint8_t>(low | (high << 2));
      }
    }
  }
}

void unpack_q45_k_scales(const uint8_t* scales, KBlock* out) {
  for (int j = 0; j < 8; ++j) {
    uint8_t sc;
    uint8_t m;
    scale_min_k4(j, scales, &sc, &m);
    out->scale[j] = sc;
    out->min[j] = m;
  }
}

void unpack_q4_k(const uint8_t* b, KBlock* out) {
  out->d = load_half(b);
  out->dmin = load_half(b + 2);
  out->sub = 32;
  out->offset = 0;
  unpack_q45_k_scales(b + 4, out);
  const uint8_t* qs = b + 16;
  for (int k = 0; k < 4; ++k) {
    for (int l = 0; l < 32; ++l) {
      out->u[64 * k + l] = qs[32 * k + l] & 0xF;
      out->u[64 * k + 32 + l] = qs[32 * k + l] >> 4;
    }
  }
}

void unpack_q5_k(const uint8_t* b, KBlock* out) {
  out->d = load_half(b);
  out->dmin = load_half(b + 2);
  out->sub = 32;
  out->offset = 0;
  unpack_q45_k_scales(b + 4, out);
  const uint8_t* qh = b + 16;
  const uint8_t* qs = b + 48;
  for (int k = 0; k < 4; ++k) {
    for (int l = 0; l < 32; ++l) {
      out->u[64 * k + l] =
          static_cast<uint8_t>((qs[32 * k + l] & 0xF) | (((qh[l] >> (2 * k)) & 1) << 4));
      out->u[64 * k + 32 + l] =
          static_cast<uint8_t>((qs[32 * k + l] >> 4) | (((qh[l] >> (2 * k + 1)) & 1) << 4));
    }
  }
}

void unpack_q6_k(const uint8_t* b, KBlock* out) {
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const int8_t* scales = reinterpret_cast<const int8_t*>(b + 192);
  out->d = load_half(b + 208);
  out->dmin = 0;
  out->sub = 16;
  out->offset = 32;
  for (int j = 0; j < 16; ++j) {
    out->scale[j] = scales[j];
    out->min[j] = 0;
  }
  for (int h = 0; h < 2; ++h) {
    const uint8_t* l4 = ql + 64 * h;
    const uint8_t* h2 = qh + 32 * h;
    uint8_t* u = out->u + 128 * h;
    for (int l = 0; l < 32; ++l) {
      u[l] = static_cast<uint8_t>((l4[l] & 0xF) | ((h2[l] & 3) << 4));
      u[l + 32] = static_cast<uint8_t>((l4[l + 32] & 0xF) | (((h2[l] >> 2) & 3) << 4));
      u[l + 64] = static_cast<uint8_t>((l4[l] >> 4) | (((h2[l] >> 4) & 3) << 4));
      u[l + 96] = static_cast<uint8_t>((l4[l + 32] >> 4) | (((h2[l] >> 6) & 3) << 4));
    }
  }
}

// sum_blocks d_a * (d * T - dmin * M) with the exact integers
//   T = sum_j scale_j * (sum_{i in j} u_i q_i - offset * sum_{i in j} q_i),
//   M = sum_j min_j * sum_{i in j} q_i.
template <size_t kBlockBytes, void (*kUnpack)(const uint8_t*, KBlock*)>
void dot_k_scalar(int64_t n, const uint8_t* w, const uint8_t* act, size_t stride, int n_act,
                  float* out) {
  float sum[kMaxActRows] = {};
  KBlock blk;
  for (int64_t b = 0; b < n / kQkK; ++b) {
    kUnpack(w + b * kBlockBytes, &blk);
    const int n_sub = kQkK / blk.sub;
    for (int j = 0; j < n_act; ++j) {
      const uint8_t* ab = act + j * stride + b * kQ8_KBytes;
      const int8_t* q = reinterpret_cast<const int8_t*>(ab + kQ8_KQs);
      int t = 0;
      int m = 0;
      for (int s = 0; s < n_sub; ++s) {
        int uq = 0;
        int qsum = 0;
        for (int i = s * blk.sub; i < (s + 1) * blk.sub; ++i) {
          uq += blk.u[i] * q[i];
          qsum += q[i];
        }
        t += blk.scale[s] * (uq - blk.offset * qsum);
        m += blk.min[s] * qsum;
      }
      const float da = load_f32(ab);
      sum[j] += da * blk.d * static_cast<float>(t) - da * blk.dmin * static_cast<float>(m);
    }
  }
  for (int j = 0; j < n_act; ++j) out[j] = sum[j];
}

void widen_f16_scalar(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = load_half(bytes(src) + 2 * i);
}

void widen_bf16_scalar(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    dst[i] = bits_float(static_cast<uint32_t>(load_u16(bytes(src) + 2 * i)) << 16);
  }
}

// The tile of a kernel that takes one weight row and up to kMaxActRows activation rows (one row
// per group): for each run of up to four activation rows, every weight row.
template <void (*kRowKernel)(int64_t, const uint8_t*, const uint8_t*, size_t, int, float*)>
void tile_by_rows(int64_t n, const uint8_t* w, size_t w_stride, int64_t n_w, const uint8_t* acts,
                  size_t group_bytes, int64_t a0, int64_t n_act, float* out, size_t out_stride) {
  float result[kMaxActRows];
  for (int64_t c = 0; c < n_act; c += kMaxActRows) {
    const int count = static_cast<int>(n_act - c < kMaxActRows ? n_act - c : kMaxActRows);
    const uint8_t* act = acts + (a0 + c) * group_bytes;
    for (int64_t i = 0; i < n_w; ++i) {
      kRowKernel(n, w + i * w_stride, act, group_bytes, count, result);
      for (int j = 0; j < count; ++j) out[(c + j) * out_stride + i] = result[j];
    }
  }
}

void round_f16_scalar(const float* x, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = half_to_float(fp32_to_fp16(x[i]));
}

void narrow_f16_scalar(const float* x, uint16_t* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = fp32_to_fp16(x[i]);
}

}  // namespace

namespace detail {

uint8_t* thread_scratch(size_t bytes) {
  thread_local std::vector<uint8_t> buffer;
  if (buffer.size() < bytes + 64) buffer.resize(bytes + 64);
  const auto address = reinterpret_cast<uintptr_t>(buffer.data());
  return buffer.data() + ((64 - address % 64) % 64);
}

const KernelTable& scalar_kernels() {
  static const KernelTable table = {
      tile_by_rows<dot_f16_scalar>,
      tile_by_rows<dot_bf16_scalar>,
      tile_legacy_scalar<kQ8_0Bytes, false, unpack_q8_0>,
      tile_legacy_scalar<kQ4_0Bytes, false, unpack_q4_0>,
      tile_legacy_scalar<kQ4_1Bytes, true, unpack_q4_1>,
      tile_legacy_scalar<kQ5_0Bytes, false, unpack_q5_0>,
      tile_legacy_scalar<kQ5_1Bytes, true, unpack_q5_1>,
      tile_by_rows<dot_k_scalar<kQ2_KBytes, unpack_q2_k>>,
      tile_by_rows<dot_k_scalar<kQ3_KBytes, unpack_q3_k>>,
      tile_by_rows<dot_k_scalar<kQ4_KBytes, unpack_q4_k>>,
      tile_by_rows<dot_k_scalar<kQ5_KBytes, unpack_q5_k>>,
      tile_by_rows<dot_k_scalar<kQ6_KBytes, unpack_q6_k>>,
      widen_f16_scalar,
      widen_bf16_scalar,
      round_f16_scalar,
      narrow_f16_scalar,
      prepare_legacy_scalar,
      quantize_q8_k,
  };
  return table;
}

}  // namespace detail

namespace {

const KernelTable& table_for(Isa isa) {
  if (!isa_supported(isa)) isa = Isa::kScalar;
  switch (isa) {
    case Isa::kAvx2:
      return avx2_kernels();
    case Isa::kAvx512:
      return avx512_kernels();
    case Isa::kAvx512Vnni:
      return avx512_vnni_kernels();
    case Isa::kScalar:
      break;
  }
  return scalar_kernels();
}

}  // namespace

DotTileFn dot_tile_kernel(DType weight, Isa isa) {
  if (!isa_supported(isa)) return nullptr;
  const KernelTable& t = table_for(isa);
  switch (weight) {
    case DType::kF16:
      return t.f16;
    case DType::kBF16:
      return t.bf16;
    case DType::kQ8_0:
      return t.q8_0;
    case DType::kQ4_0:
      return t.q4_0;
    case DType::kQ4_1:
      return t.q4_1;
    case DType::kQ5_0:
      return t.q5_0;
    case DType::kQ5_1:
      return t.q5_1;
    case DType::kQ2_K:
      return t.q2_k;
    case DType::kQ3_K:
      return t.q3_k;
    case DType::kQ4_K:
      return t.q4_k;
    case DType::kQ5_K:
      return t.q5_k;
    case DType::kQ6_K:
      return t.q6_k;
    default:
      return nullptr;
  }
}

void round_activation_row(DType act, const float* x, float* dst, int64_t n) {
  if (act == DType::kF16) {
    table_for(active_isa()).round_f16(x, dst, n);
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    dst[i] = bits_float(static_cast<uint32_t>(fp32_to_bf16(x[i])) << 16);
  }
}

void narrow_to_f16(const float* x, uint16_t* dst, int64_t n) {
  table_for(active_isa()).narrow_f16(x, dst, n);
}

WidenRowFn widen_row_kernel(DType type, Isa isa) {
  if (!isa_supported(isa)) return nullptr;
  const KernelTable& t = table_for(isa);
  switch (type) {
    case DType::kF16:
      return t.widen_f16;
    case DType::kBF16:
      return t.widen_bf16;
    default:
      return nullptr;
  }
}

}  // namespace ragkit::embed::ops
