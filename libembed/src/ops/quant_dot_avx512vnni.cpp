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

#include "ops/kernel_pragmas.h"
#include "ops/quant_dot_common.h"

// Everything defined below is compiled for this target; the standard headers above are not, so
// no AVX-512 copy of a library inline function can leak into code that runs on older CPUs.
RAGKIT_BEGIN_TARGET("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")
RAGKIT_EXACT_FLOAT_OPS()

namespace ragkit::embed::ops {

using namespace detail;  // NOLINT: the shared constants and loaders of the quant_dot files

// AVX-512BW's byte masks for the fifth bits of Q5_0/Q5_1 (quant_dot_simd.h).
#define RAGKIT_SIMD_BYTE_MASKS 1
#include "ops/quant_dot_simd.h"
#undef RAGKIT_SIMD_BYTE_MASKS

namespace detail {

const KernelTable& avx512_vnni_kernels() {
  static const KernelTable table = make_simd256_table</*kVnni=*/true, /*kBatchRows=*/4>();
  return table;
}

}  // namespace detail
}  // namespace ragkit::embed::ops

RAGKIT_END_TARGET()
