// The vector instruction sets ragkit's float kernels are written for, and the widest this CPU
// runs. Kernels are compiled for each with target attributes and picked at run time, so one
// binary runs everywhere.
#pragma once

namespace ragkit {

// Ordered: each implies the ones before it. kAvx2 means AVX2 with FMA; kAvx512 means AVX-512F
// (every CPU with it also has AVX2 and FMA).
enum class SimdIsa { kScalar, kAvx2, kAvx512 };

// Detected once, on first use.
SimdIsa best_simd_isa();
// Whether this CPU runs kernels written for `isa` (the order above).
inline bool simd_isa_supported(SimdIsa isa) {
  return static_cast<int>(isa) <= static_cast<int>(best_simd_isa());
}
// "AVX-512", "AVX2" or "baseline x86-64".
const char* simd_isa_name(SimdIsa isa);

}  // namespace ragkit
