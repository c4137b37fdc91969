// The AVX2 (+FMA, F16C) dot kernels: quant_dot_simd.h compiled for that target. Only called
// after cpuid said the CPU has it (quant_dot.cpp).
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "ops/quant_dot_common.h"

// Everything defined below is compiled for AVX2; the standard headers above are not, so no
// AVX2 copy of a library inline function can leak into code that runs on older CPUs.
// (clang has no "#pragma GCC target"; its attribute push does the same for every function.)
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
#endif
// Bit-identical results need the float operations exactly as written: GCC's C++ default
// (-ffp-contract=fast) would fuse a multiply and an add into an FMA wherever the target has one.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace ragkit::embed::ops {

using namespace detail;  // NOLINT: the shared constants and loaders of the quant_dot files

#include "ops/quant_dot_simd.h"

namespace detail {

const KernelTable& avx2_kernels() {
  static const KernelTable table = make_simd256_table</*kVnni=*/false, /*kBatchRows=*/2>();
  return table;
}

}  // namespace detail
}  // namespace ragkit::embed::ops

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
