// The AVX2 (+FMA, F16C) dot kernels: quant_dot_simd.h compiled for that target. Only called
// after cpuid said the CPU has it (quant_dot.cpp).
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "ops/kernel_pragmas.h"
#include "ops/quant_dot_common.h"

// Everything defined below is compiled for AVX2; the standard headers above are not, so no
// AVX2 copy of a library inline function can leak into code that runs on older CPUs.
RAGKIT_BEGIN_TARGET("avx2,fma,f16c")
RAGKIT_EXACT_FLOAT_OPS()

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

RAGKIT_END_TARGET()
