// Compute profile: counters of the matrix work done by the transformer core, for benchmarks
// (`rag bench embed` reports the share of the machine's sgemm rate the encoder reaches).
// Counting costs two clock reads per matrix product; it is always on.
#pragma once

#include <cstdint>

#include "ragkit/common/thread_pool.h"

namespace ragkit::embed {

struct ComputeProfile {
  uint64_t matmul_flops = 0;        // 2 * m * n * k summed over every product
  uint64_t matmul_nanoseconds = 0;  // wall time inside the products (dequantization included)
};

ComputeProfile compute_profile();
void reset_compute_profile();

// The machine's sgemm rate in GFLOP/s: OpenBLAS on its own, with as many threads as `pool`,
// on one C[m][n] = A[m][k] B[n][k]^T product; the best of the repetitions run in about
// about `seconds` in all.
double measure_sgemm_gflops(ThreadPool& pool, int m, int n, int k, double seconds = 1.0);

// The machine's memory read bandwidth in GB/s (1e9 bytes/s) as `pool` sees it: every thread
// sums its share of a `bytes`-long buffer (far larger than the caches) with the widest vector
// loads it has, with and without software prefetching ahead (as the decode kernels read); the
// best of the passes run in about `seconds`. The buffer is in 2 MB pages where
// the kernel allows them. Decoding one token reads every weight once, so bandwidth /
// bytes-per-token bounds the decode speed. 0 when the buffer cannot be allocated.
double measure_read_bandwidth_gbs(ThreadPool& pool, size_t bytes = size_t{1} << 30,
                                  double seconds = 2.0);

}  // namespace ragkit::embed
