#include "ops/matmul.h"

#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>

#include "ragkit/embed/profile.h"

namespace ragkit::embed::ops {

namespace {
std::atomic<uint64_t> g_flops{0};
std::atomic<uint64_t> g_nanoseconds{0};
}  // namespace

void init_blas() {
  static std::once_flag once;
  std::call_once(once, [] { openblas_set_num_threads(1); });
}

Status linear(ThreadPool& pool, const float* x, int64_t n, const Linear& l, float* y,
              MatmulScratch& scratch) {
  init_blas();
  const auto started = std::chrono::steady_clock::now();
  const int64_t in = l.in(), out = l.out();
  const float* w = nullptr;
  if (l.weight.dtype == DType::kF32 &&
      reinterpret_cast<uintptr_t>(l.weight.data) % alignof(float) == 0) {
    w = static_cast<const float*>(l.weight.data);
  } else {
    const size_t need = static_cast<size_t>(in * out);
    if (scratch.weights.size() < need) scratch.weights.resize(need);
    float* dst = scratch.weights.data();
    const TensorView& tv = l.weight;
    const int64_t rows_per_task = 16;
    const size_t tasks = static_cast<size_t>((out + rows_per_task - 1) / rows_per_task);
    std::atomic<bool> failed{false};
    pool.parallel_for(tasks, [&](size_t task, int) {
      const int64_t r0 = static_cast<int64_t>(task) * rows_per_task;
      const int64_t r1 = std::min(out, r0 + rows_per_task);
      for (int64_t r = r0; r < r1; ++r) {
        if (!dequantize_row(tv.dtype, tv.row(r), dst + r * in, in).ok()) failed = true;
      }
    });
    if (failed) {
      return Status::not_supported(std::string("cannot compute with ") + dtype_name(tv.dtype) +
                                   " weights");
    }
    w = dst;
  }

  // Tiles. OpenBLAS packs both operands on every call, so a tile should be tall: split the rows
  // (tokens) first, in blocks of at least 64, and all output features go to one call — each row
  // block of x is then packed once. Only when there are too few rows for every thread (decoding
  // a handful of tokens) are the output features split too.
  const int64_t threads = pool.size();
  const int64_t want_tiles = threads == 1 ? 1 : threads * 4;
  const int64_t row_blocks = std::clamp<int64_t>(n / 64, 1, want_tiles);
  const int64_t col_blocks =
      std::clamp<int64_t>((want_tiles + row_blocks - 1) / row_blocks, 1, std::max<int64_t>(1, out / 64));
  const int64_t col_step = (out + col_blocks - 1) / col_blocks;
  const int64_t row_step = (n + row_blocks - 1) / row_blocks;
  pool.parallel_for(static_cast<size_t>(col_blocks * row_blocks), [&](size_t task, int) {
    const int64_t cb = static_cast<int64_t>(task) % col_blocks;
    const int64_t rb = static_cast<int64_t>(task) / col_blocks;
    const int64_t c0 = cb * col_step, c1 = std::min(out, c0 + col_step);
    const int64_t r0 = rb * row_step, r1 = std::min(n, r0 + row_step);
    if (c0 >= c1 || r0 >= r1) return;
    float* yt = y + r0 * out + c0;
    if (l.bias != nullptr) {
      for (int64_t r = r0; r < r1; ++r) std::copy(l.bias + c0, l.bias + c1, y + r * out + c0);
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(r1 - r0),
                static_cast<int>(c1 - c0), static_cast<int>(in), 1.0f, x + r0 * in,
                static_cast<int>(in), w + c0 * in, static_cast<int>(in),
                l.bias != nullptr ? 1.0f : 0.0f, yt, static_cast<int>(out));
  });
  g_flops.fetch_add(static_cast<uint64_t>(2 * n * in * out), std::memory_order_relaxed);
  g_nanoseconds.fetch_add(
      static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                std::chrono::steady_clock::now() - started)
                                .count()),
      std::memory_order_relaxed);
  return Status();
}

}  // namespace ragkit::embed::ops

namespace ragkit::embed {

ComputeProfile compute_profile() {
  return {ops::g_flops.load(), ops::g_nanoseconds.load()};
}

void reset_compute_profile() {
  ops::g_flops = 0;
  ops::g_nanoseconds = 0;
}

double measure_sgemm_gflops(ThreadPool& pool, int m, int n, int k, double seconds) {
  // The machine's rate is what OpenBLAS reaches on its own, with its own threads (as many as
  // the pool has) on one large product: the yardstick for our tiled use of it.
  std::vector<float> a(static_cast<size_t>(m) * k), b(static_cast<size_t>(n) * k),
      c(static_cast<size_t>(m) * n);
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>((i * 7919) % 1000) * 1e-3f;
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<float>((i * 104729) % 1000) * 1e-3f;
  ops::init_blas();
  openblas_set_num_threads(pool.size());
  double best = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  do {
    const auto t0 = std::chrono::steady_clock::now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, a.data(), k, b.data(), k,
                0.0f, c.data(), n);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, 2.0 * m * n * k / s / 1e9);
  } while (std::chrono::steady_clock::now() < deadline);
  openblas_set_num_threads(1);
  return best;
}

}  // namespace ragkit::embed
