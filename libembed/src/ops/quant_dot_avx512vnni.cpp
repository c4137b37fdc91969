// The AVX-512 dot kernels with VNNI (vpdpbusd): the kernels of quant_dot_simd.h compiled for
// that target (EVEX encodings, 32 vector registers, vpdpbusd for the u8 x s8 sums). Only called
// after cpuid said the CPU has it (quant_dot.cpp).
//
// They keep 256-bit vectors: 512-bit versions of the F16 and legacy-block kernels measured
// slower on the Zen 4 class machine this was tuned on (which splits zmm work into two 256-bit
// halves): 35 vs 52 GB/s for F16 and 23 vs 29 GB/s for Q8_0 on one 1536x576 matrix.

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "ops/quant_dot_common.h"

// Everything defined below is compiled for this target; the standard headers above are not, so
// no AVX-512 copy of a library inline function can leak into code that runs on older CPUs.
// (clang has no "#pragma GCC target"; its attribute push does the same for every function.)
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")
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

const KernelTable& avx512_vnni_kernels() {
  static const KernelTable table = make_simd256_table</*kVnni=*/true, /*kBatchRows=*/4>();
  return table;
}

}  // namespace detail
}  // namespace ragkit::embed::ops

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
