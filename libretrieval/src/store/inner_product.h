// Inner products of float vectors for the store's searches: the exact scans of Flat indexes and
// the graph walks and inserts of HNSW.
//
// Debian's libfaiss is built for baseline x86-64, where fvec_inner_product is a scalar loop that
// waits for each add before the next (~4 cycles per dimension): 1,500 cycles for a 384-d pair,
// which is what HNSW inserts and Flat scans spend their time on. These kernels use the widest
// vectors the CPU has (AVX-512, AVX2+FMA, or SSE2 with independent lanes), chosen at run time.
#pragma once

#include <cstddef>

#include "ragkit/common/simd_isa.h"

namespace ragkit::retrieval::store {

// The kernels below use best_simd_isa().

// <a, b> over d floats.
float inner_product(const float* a, const float* b, size_t d);
// out[i] = <q, rows + i * d> for i < n.
void inner_products(const float* q, const float* rows, size_t n, size_t d, float* out);

// The same with a chosen instruction set, for tests; false when this CPU lacks it.
bool inner_product_with(SimdIsa isa, const float* a, const float* b, size_t d, float* out);
bool inner_products_with(SimdIsa isa, const float* q, const float* rows, size_t n, size_t d,
                         float* out);

}  // namespace ragkit::retrieval::store
