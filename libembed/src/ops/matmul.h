// Matrix work of the transformer core: y = x W^T + b over a batch of rows, on the compute pool.
//
// How depends on the weight type, and follows what llama.cpp's CPU backend computes:
//   F32 (aligned): tiles of single-threaded OpenBLAS sgemm, the pool running the tiles.
//   Block-quantized (Q8_0, Q4_0/1, Q5_0/1, Q2_K..Q6_K): every activation row is converted once to
//     the weight type's companion format (Q8_0, Q8_1 or Q8_K, bit-exact with llama.cpp; see
//     quant_dot.h), then the pool computes blocks of output rows x blocks of activation rows with
//     the dot kernels, which use each unpacked weight block for four activation rows and each
//     activation block for two to four weight rows. The weights are never converted as a whole. A
//     row's output does not depend on the batch it is in, and is the same on every instruction set.
//   F16/BF16: the activations are rounded to F16/BF16 first (as llama.cpp does). Short batches
//     (decoding) use the F16/BF16 dot kernels; batches of 32 (F16) or 16 (BF16) rows or more
//     widen one tile of at most 128 weight rows at a time to F32 in a per-thread scratch and run
//     sgemm on the rounded activations (every product is exact in F32, only the summation order
//     differs).
// OpenBLAS's own threads are switched off: ragkit has one compute pool. The compute profile
// (profile.h) counts every call's 2 * n * in * out operations and its wall time.
//
// Thread-safety: linear() may run concurrently with different scratches; a scratch belongs to
// one caller at a time.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "ops/packed_rows.h"
#include "ops/quant_dot.h"
#include "ops/row_runs.h"
#include "ragkit/common/status.h"
#include "ragkit/common/thread_pool.h"
#include "ragkit/embed/model.h"

namespace ragkit::embed::ops {

// One product of linear_many: y = x * linear->weight^T + linear->bias.
struct LinearOutput {
  const Linear* linear = nullptr;
  float* y = nullptr;
};

// The most matrices one decoded row's pass over the weights takes (linear_many with more runs
// them one after the other).
inline constexpr size_t kMaxDecodeMatrices = 8;

// One matrix of a decoded row's pass over the weights (matmul.cpp's decode_pass).
struct DecodeMatrix {
  const LinearOutput* out = nullptr;
  DotTileFn tile = nullptr;  // nullptr: F32 weights, through gemv_f32
  PackedTileFn packed = nullptr;  // set: the weights' packed rows, through this kernel
  size_t acts_offset = 0;    // its converted activation in MatmulScratch::activations
  size_t group_bytes = 0;
  bool prepares = false;  // the pass's first matrix of its type: converts the activation
};

// Scratch reused across calls so that steady-state forward passes allocate nothing: buffers only
// grow, to the largest batch and matrix seen.
struct MatmulScratch {
  std::vector<uint8_t> activations;  // activation rows prepared for the dot kernels
  std::vector<float> rounded;        // F16/BF16-rounded activation rows (tile path)
  std::vector<float> tiles;          // one F32 tile of weight rows per pool thread (tile path)
  RowRuns runs;                      // the threads' shares of a decoded row's products
  std::array<DecodeMatrix, kMaxDecodeMatrices> decode_plan;  // the matrices of a decode pass
};

// y[n][out] = x[n][in] * W^T + bias. x and y must not overlap. Weight types: F32, F16, BF16 and
// the block-quantized types with dot kernels; anything else is not_supported.
Status linear(ThreadPool& pool, const float* x, int64_t n, const Linear& l, float* y,
              MatmulScratch& scratch);

// Several products of the same input (q, k and v; gate and up): the same results as one
// linear() each. When decoding one row (up to kMaxDecodeMatrices matrices of the dot-kernel types
// or aligned F32, mixed as they come), the row is converted once per weight type and the rows of
// all the matrices, end to end, are shared among the threads in one pass (row_runs.h): fewer
// hand-offs between the threads per token, and no thread idle while another finishes a small
// matrix. Otherwise one linear() after the other.
Status linear_many(ThreadPool& pool, const float* x, int64_t n, std::span<const LinearOutput> outs,
                   MatmulScratch& scratch);

// Turns off OpenBLAS's internal threading (idempotent, thread-safe).
void init_blas();

}  // namespace ragkit::embed::ops
