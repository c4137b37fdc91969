// Matrix work of the transformer core: y = x W^T + b over a batch of rows, split into tiles that
// the compute pool runs in parallel, each tile one single-threaded OpenBLAS sgemm.
// OpenBLAS's own threads are switched off: ragkit has one compute pool.
//
// F32 weights go straight to sgemm; weights of other types (F16, BF16, Q8_0) are converted to F32
// in a per-matrix scratch first, a small cost next to the sgemm when a batch has hundreds of rows.
// (Single-row decoding with quantized weights wants dot-product kernels instead; see the
// generator.)
#pragma once

#include <cstdint>
#include <vector>

#include "ragkit/common/status.h"
#include "ragkit/common/thread_pool.h"
#include "ragkit/embed/model.h"

namespace ragkit::embed::ops {

// Scratch reused across calls so that steady-state forward passes allocate nothing.
struct MatmulScratch {
  std::vector<float> weights;  // a dequantized weight matrix
};

// y[n][out] = x[n][in] * W^T + bias. x and y must not overlap.
Status linear(ThreadPool& pool, const float* x, int64_t n, const Linear& l, float* y,
              MatmulScratch& scratch);

// Turns off OpenBLAS's internal threading (idempotent, thread-safe).
void init_blas();

}  // namespace ragkit::embed::ops
