#include "ragkit/common/simd_isa.h"

namespace ragkit {
namespace {

SimdIsa detect() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return SimdIsa::kAvx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return SimdIsa::kAvx2;
  return SimdIsa::kScalar;
}

}  // namespace

SimdIsa best_simd_isa() {
  static const SimdIsa isa = detect();
  return isa;
}

const char* simd_isa_name(SimdIsa isa) {
  switch (isa) {
    case SimdIsa::kAvx512: return "AVX-512";
    case SimdIsa::kAvx2: return "AVX2";
    case SimdIsa::kScalar: break;
  }
  return "baseline x86-64";
}

}  // namespace ragkit
