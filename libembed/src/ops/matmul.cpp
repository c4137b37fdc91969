#include "ops/matmul.h"

#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <string>

#include "ops/gemv_f32.h"
#include "ops/quant_dot.h"
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

namespace {

// F16/BF16 batches of at least this many rows widen weight tiles for sgemm; shorter ones (decode)
// use the dot kernels, which read each weight once without widening it. Where the two cross on
// a Zen 4 class core (one thread, 384x1536 and 1536x576 matrices): F16 dot ~70 GFLOP/s against
// sgemm ~57 at 16 rows and ~72 at 32; BF16 dot ~45 against sgemm ~55 at 16 rows.
int64_t tile_min_rows(DType type) { return type == DType::kF16 ? 32 : 16; }

// y[r0:r1][c0:c1] = x[r0:r1] w^T (+ bias[c0:c1]), where w holds weight rows c0..c1-1, ldw apart.
void sgemm_rows(const float* x, int64_t r0, int64_t r1, int64_t in, const float* w, int64_t c0,
                int64_t c1, int64_t ldw, const float* bias, float* y, int64_t out) {
  float* yt = y + r0 * out + c0;
  if (bias != nullptr) {
    for (int64_t r = r0; r < r1; ++r) std::copy(bias + c0, bias + c1, y + r * out + c0);
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(r1 - r0),
              static_cast<int>(c1 - c0), static_cast<int>(in), 1.0f, x + r0 * in,
              static_cast<int>(in), w, static_cast<int>(ldw), bias != nullptr ? 1.0f : 0.0f, yt,
              static_cast<int>(out));
}

// y[a][r] += bias[r] for activation rows [a0, a1) and outputs [r0, r1); y's rows `out` apart.
void add_bias(const float* bias, float* y, int64_t out, int64_t a0, int64_t a1, int64_t r0,
              int64_t r1) {
  if (bias == nullptr) return;
  for (int64_t a = a0; a < a1; ++a) {
    for (int64_t r = r0; r < r1; ++r) y[a * out + r] += bias[r];
  }
}

// Rows per chunk when decoding (row_runs.h): about 16 KB of weights, a few microseconds of
// streaming, so that claiming a chunk costs nothing in comparison and the last chunks of a run
// still even out the threads.
int64_t chunk_rows(size_t row_bytes) {
  return std::max<int64_t>(1, static_cast<int64_t>((16 << 10) / std::max<size_t>(row_bytes, 1)));
}

// F32 weights in place.
void linear_f32(ThreadPool& pool, const float* x, int64_t n, const Linear& l, float* y,
                MatmulScratch& scratch) {
  const int64_t in = l.in(), out = l.out();
  const float* w = static_cast<const float*>(l.weight.data);
  if (n <= kGemvMaxRows) {
    // A few rows: stream each weight row once (gemv_f32.h), the rows shared as in decode_pass.
    const int64_t threads = pool.size();
    scratch.runs.reset(out, static_cast<int>(threads), chunk_rows(static_cast<size_t>(in) * 4));
    pool.parallel_for(static_cast<size_t>(threads), [&](size_t task, int) {
      int64_t o0 = 0, o1 = 0;
      while (scratch.runs.next(static_cast<int>(task), &o0, &o1)) {
        gemv_f32(w, in, in, x, n, y, out, o0, o1);
        add_bias(l.bias, y, out, 0, n, o0, o1);
      }
    });
    return;
  }
  // Tiles. OpenBLAS packs both operands on every call, so a tile should be tall: split the rows
  // (tokens) first, in blocks of at least 64, and all output features go to one call — each row
  // block of x is then packed once. Only when there are too few rows for every thread (decoding
  // a handful of tokens) are the output features split too.
  const int64_t threads = pool.size();
  const int64_t want_tiles = threads == 1 ? 1 : threads * 4;
  const int64_t row_blocks = std::clamp<int64_t>(n / 64, 1, want_tiles);
  const int64_t col_blocks = std::clamp<int64_t>((want_tiles + row_blocks - 1) / row_blocks, 1,
                                                 std::max<int64_t>(1, out / 64));
  const int64_t col_step = (out + col_blocks - 1) / col_blocks;
  const int64_t row_step = (n + row_blocks - 1) / row_blocks;
  pool.parallel_for(static_cast<size_t>(col_blocks * row_blocks), [&](size_t task, int) {
    const int64_t cb = static_cast<int64_t>(task) % col_blocks;
    const int64_t rb = static_cast<int64_t>(task) / col_blocks;
    const int64_t c0 = cb * col_step, c1 = std::min(out, c0 + col_step);
    const int64_t r0 = rb * row_step, r1 = std::min(n, r0 + row_step);
    if (c0 >= c1 || r0 >= r1) return;
    sgemm_rows(x, r0, r1, in, w + c0 * in, c0, c1, in, l.bias, y, out);
  });
}

// Weights that must be widened to F32 (F16/BF16 for long batches, unaligned F32): one tile of
// weight rows per task, widened into that thread's scratch, times all activation rows.
Status linear_tiles(ThreadPool& pool, const float* x, int64_t n, const Linear& l, float* y,
                    MatmulScratch& scratch) {
  const TensorView& tv = l.weight;
  const int64_t in = l.in(), out = l.out();
  const float* xs = x;
  WidenRowFn widen = nullptr;
  if (tv.dtype != DType::kF32) {
    widen = widen_row_kernel(tv.dtype);
    if (widen == nullptr) return Status::internal("no widening kernel for " + tv.describe());
    // Round the activations the way llama.cpp converts them for an F16/BF16 matmul.
    const size_t need = static_cast<size_t>(n * in);
    if (scratch.rounded.size() < need) scratch.rounded.resize(need);
    float* rounded = scratch.rounded.data();
    pool.parallel_for(static_cast<size_t>(n), [&](size_t r, int) {
      round_activation_row(tv.dtype, x + r * in, rounded + r * in, in);
    });
    xs = rounded;
  }
  const int64_t threads = pool.size();
  // Tiles of 16..128 weight rows, about four per thread.
  int64_t tile = (out + threads * 4 - 1) / (threads * 4);
  tile = std::clamp<int64_t>((tile + 15) / 16 * 16, 16, 128);
  const size_t tile_floats = static_cast<size_t>(tile * in);
  if (scratch.tiles.size() < tile_floats * static_cast<size_t>(threads)) {
    scratch.tiles.resize(tile_floats * static_cast<size_t>(threads));
  }
  const int64_t tasks = (out + tile - 1) / tile;
  pool.parallel_for(static_cast<size_t>(tasks), [&](size_t task, int thread) {
    const int64_t c0 = static_cast<int64_t>(task) * tile, c1 = std::min(out, c0 + tile);
    float* t = scratch.tiles.data() + static_cast<size_t>(thread) * tile_floats;
    for (int64_t r = c0; r < c1; ++r) {
      if (widen != nullptr) {
        widen(tv.row(r), t + (r - c0) * in, in);
      } else {
        std::memcpy(t + (r - c0) * in, tv.row(r), static_cast<size_t>(in) * sizeof(float));
      }
    }
    sgemm_rows(xs, 0, n, in, t, c0, c1, in, l.bias, y, out);
  });
  return Status();
}

// Converts activation rows x[0..n) for the dot kernels of `dtype` into scratch.activations.
ActivationLayout prepare_activations(ThreadPool& pool, const float* x, int64_t n, DType dtype,
                                     int64_t in, MatmulScratch& scratch) {
  const ActivationLayout layout = activation_layout(dtype, in);
  const int64_t group_rows = layout.group_rows;
  const int64_t groups = (n + group_rows - 1) / group_rows;
  const size_t need = layout.group_bytes * static_cast<size_t>(groups);
  if (scratch.activations.size() < need) scratch.activations.resize(need);
  uint8_t* acts = scratch.activations.data();
  auto prepare = [&](size_t g, int) {
    const int64_t r0 = static_cast<int64_t>(g) * group_rows;
    const int count = static_cast<int>(std::min(group_rows, n - r0));
    prepare_activation_group(dtype, x + r0 * in, in, count, acts + g * layout.group_bytes);
  };
  if (groups == 1) {
    prepare(0, 0);
  } else {
    pool.parallel_for(static_cast<size_t>(groups), prepare);
  }
  return layout;
}

// The kernel of l's packed rows on this CPU, or nullptr (no packed rows, or no kernel for them:
// a lower instruction set forced after loading).
PackedTileFn packed_kernel(const Linear& l) {
  return l.packed != nullptr ? packed_tile_kernel(l.weight.dtype) : nullptr;
}

// Block-quantized (and short-batch F16/BF16) weights: activations converted once, then tiles of
// dot products: blocks of output rows x blocks of activation rows.
Status linear_dot(ThreadPool& pool, const float* x, int64_t n, const Linear& l, float* y,
                  MatmulScratch& scratch) {
  const TensorView& tv = l.weight;
  const int64_t in = l.in(), out = l.out();
  const DotTileFn tile = dot_tile_kernel(tv.dtype);
  if (tile == nullptr) return Status::internal("no dot kernel for " + tv.describe());
  RAGKIT_ASSIGN_OR_RETURN(const size_t weight_row, row_bytes(tv.dtype, in));
  const ActivationLayout layout = prepare_activations(pool, x, n, tv.dtype, in, scratch);
  const uint8_t* acts = scratch.activations.data();

  // Blocks of output rows: about four per thread, and small enough (~128 KiB of weights) to stay
  // in the core's cache while the task's activation rows go past them; the activation rows in
  // blocks of 64 so that long batches make enough tasks. (One decoded row goes through
  // decode_pass instead.)
  const int64_t threads = pool.size();
  const int64_t tasks_per_thread = 4;
  int64_t rows_per_task =
      std::max<int64_t>(1, (out + threads * tasks_per_thread - 1) / (threads * tasks_per_thread));
  const int64_t cache_rows = std::max<int64_t>(8, static_cast<int64_t>((128 << 10) / weight_row));
  rows_per_task = std::min(rows_per_task, cache_rows);
  const PackedTileFn packed = packed_kernel(l);
  if (packed != nullptr) {
    rows_per_task = (rows_per_task + kPackedRows - 1) / kPackedRows * kPackedRows;
  }
  const int64_t acts_per_task = n <= 64 ? n : 64;  // a multiple of the group size
  const int64_t row_blocks = (out + rows_per_task - 1) / rows_per_task;
  const int64_t act_blocks = (n + acts_per_task - 1) / acts_per_task;
  const float* bias = l.bias;
  pool.parallel_for(static_cast<size_t>(row_blocks * act_blocks), [&](size_t task, int) {
    const int64_t rb = static_cast<int64_t>(task) % row_blocks;
    const int64_t ab = static_cast<int64_t>(task) / row_blocks;
    const int64_t r0 = rb * rows_per_task, r1 = std::min(out, r0 + rows_per_task);
    const int64_t a0 = ab * acts_per_task, a1 = std::min(n, a0 + acts_per_task);
    float* yt = y + a0 * out + r0;
    if (packed != nullptr) {
      packed(in, l.packed, r0 / kPackedRows, (r1 - r0) / kPackedRows, acts, layout.group_bytes, a0,
             a1 - a0, yt, static_cast<size_t>(out));
    } else {
      tile(in, tv.row(r0), tv.row_stride(), r1 - r0, acts, layout.group_bytes, a0, a1 - a0, yt,
           static_cast<size_t>(out));
    }
    add_bias(bias, y, out, a0, a1, r0, r1);
  });
  return Status();
}

// Whether l's F32 weights can be read in place (aligned, rows end to end).
bool f32_in_place(const Linear& l) {
  const TensorView& tv = l.weight;
  return tv.dtype == DType::kF32 && reinterpret_cast<uintptr_t>(tv.data) % alignof(float) == 0 &&
         tv.row_stride() == static_cast<size_t>(l.in()) * sizeof(float);
}

// Whether a batch of n rows times these weights goes through the dot kernels.
bool uses_dot_kernels(DType dtype, int64_t n) {
  if (dtype == DType::kF32 || !has_dot_kernel(dtype)) return false;
  return !((dtype == DType::kF16 || dtype == DType::kBF16) && n >= tile_min_rows(dtype));
}

// Whether one decoded row times l goes through decode_pass.
bool decodes_in_pass(const Linear& l) {
  return l.weight.dtype == DType::kF32 ? f32_in_place(l) : uses_dot_kernels(l.weight.dtype, 1);
}

// One decoded row times one or more matrices of the same input width (linear(), and
// linear_many's one pass), whatever their weight types (decodes_in_pass): the activation
// converted once per type, and the rows of all the matrices, end to end, shared among the threads
// (row_runs.h). Decoding streams every weight from memory once: one contiguous run of rows per
// thread reads at about twice the bandwidth of four smaller tasks per thread taken in turns
// (measured on a 30-layer Q8_0 model: 10 -> 20 GB/s), whose interleaved streams defeat the
// prefetchers. Mixed types share the pass because quantized files mix them within a layer (a
// Q4_K_M file's v beside its Q5_0 q and k), and every pass ends with the threads waiting for each
// other.
Status decode_pass(ThreadPool& pool, const float* x, std::span<const LinearOutput> outs,
                   MatmulScratch& scratch) {
  const int64_t in = outs[0].linear->in();
  if (outs.size() > kMaxDecodeMatrices) {
    return Status::internal("decode pass of " + std::to_string(outs.size()) + " matrices");
  }
  const std::span<DecodeMatrix> plan(scratch.decode_plan.data(), outs.size());
  size_t act_bytes = 0, widest_row = 0;
  int64_t total = 0;
  for (size_t i = 0; i < outs.size(); ++i) {
    const LinearOutput& o = outs[i];
    const TensorView& tv = o.linear->weight;
    DecodeMatrix& m = plan[i];
    m = DecodeMatrix{};
    m.out = &o;
    if (tv.dtype != DType::kF32) {
      m.tile = dot_tile_kernel(tv.dtype);
      if (m.tile == nullptr) return Status::internal("no dot kernel for " + tv.describe());
      m.packed = packed_kernel(*o.linear);
      m.group_bytes = activation_layout(tv.dtype, in).group_bytes;
      const auto earlier = plan.first(i);
      const auto same_type =
          std::find_if(earlier.begin(), earlier.end(), [&](const DecodeMatrix& e) {
            return e.prepares && e.out->linear->weight.dtype == tv.dtype;
          });
      m.prepares = same_type == earlier.end();
      m.acts_offset = m.prepares ? act_bytes : same_type->acts_offset;
      if (m.prepares) act_bytes += (m.group_bytes + 63) & ~size_t{63};
    }
    widest_row = std::max(widest_row, tv.row_stride());
    total += o.linear->out();
  }
  if (scratch.activations.size() < act_bytes) scratch.activations.resize(act_bytes);
  uint8_t* acts = scratch.activations.data();
  for (const DecodeMatrix& m : plan) {
    if (m.prepares) {
      prepare_activation_group(m.out->linear->weight.dtype, x, in, 1, acts + m.acts_offset);
    }
  }
  const int threads = pool.size();
  scratch.runs.reset(total, threads, chunk_rows(widest_row));
  pool.parallel_for(static_cast<size_t>(threads), [&](size_t task, int) {
    int64_t g0 = 0, g1 = 0;
    while (scratch.runs.next(static_cast<int>(task), &g0, &g1)) {
      int64_t base = 0;  // the first row of this matrix in the concatenation
      for (const DecodeMatrix& m : plan) {
        const Linear& l = *m.out->linear;
        const TensorView& tv = l.weight;
        const int64_t out = l.out();
        const int64_t r0 = std::max<int64_t>(g0 - base, 0), r1 = std::min(g1 - base, out);
        if (m.packed != nullptr) {
          // Whole groups of eight rows: each to the thread whose run holds its first row.
          const int64_t first = (r0 + kPackedRows - 1) / kPackedRows;
          const int64_t last = (r1 + kPackedRows - 1) / kPackedRows;
          if (r0 < r1 && first < last) {
            m.packed(in, l.packed, first, last - first, acts + m.acts_offset, m.group_bytes, 0, 1,
                     m.out->y + kPackedRows * first, static_cast<size_t>(out));
            add_bias(l.bias, m.out->y, out, 0, 1, kPackedRows * first, kPackedRows * last);
          }
        } else if (r0 < r1) {
          if (m.tile != nullptr) {
            m.tile(in, tv.row(r0), tv.row_stride(), r1 - r0, acts + m.acts_offset, m.group_bytes, 0,
                   1, m.out->y + r0, static_cast<size_t>(out));
          } else {
            gemv_f32(static_cast<const float*>(tv.data), in, in, x, 1, m.out->y, out, r0, r1);
          }
          add_bias(l.bias, m.out->y, out, 0, 1, r0, r1);
        }
        base += out;
      }
    }
  });
  return Status();
}

// Whether l's rows hold what its type says they hold.
Status check_rows(const Linear& l) {
  const TensorView& tv = l.weight;
  const Result<size_t> weight_row = row_bytes(tv.dtype, l.in());
  if (!weight_row.ok() || tv.row_stride() < *weight_row) {
    return Status::invalid_argument("cannot multiply by " + std::string(tv.name) + " " +
                                    tv.describe() + ": rows do not match its type");
  }
  return Status();
}

// Adds a product's operations and time to the compute profile.
void record(int64_t n, int64_t in, int64_t out, std::chrono::steady_clock::time_point started) {
  g_flops.fetch_add(static_cast<uint64_t>(2 * n * in * out), std::memory_order_relaxed);
  g_nanoseconds.fetch_add(
      static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                std::chrono::steady_clock::now() - started)
                                .count()),
      std::memory_order_relaxed);
}

}  // namespace

Status linear(ThreadPool& pool, const float* x, int64_t n, const Linear& l, float* y,
              MatmulScratch& scratch) {
  init_blas();
  const auto started = std::chrono::steady_clock::now();
  const TensorView& tv = l.weight;
  const int64_t in = l.in(), out = l.out();
  if (n <= 0 || out <= 0) return Status();
  RAGKIT_RETURN_IF_ERROR(check_rows(l));
  Status status;
  if (n == 1 && decodes_in_pass(l)) {
    const LinearOutput one[] = {{&l, y}};
    status = decode_pass(pool, x, one, scratch);
  } else if (tv.dtype == DType::kF32) {
    if (f32_in_place(l)) {
      linear_f32(pool, x, n, l, y, scratch);
    } else {
      status = linear_tiles(pool, x, n, l, y, scratch);
    }
  } else if (uses_dot_kernels(tv.dtype, n)) {
    status = linear_dot(pool, x, n, l, y, scratch);
  } else if (tv.dtype == DType::kF16 || tv.dtype == DType::kBF16) {
    status = linear_tiles(pool, x, n, l, y, scratch);
  } else {
    status = Status::not_supported(std::string("cannot compute with ") + dtype_name(tv.dtype) +
                                   " weights");
  }
  if (!status.ok()) return status;
  record(n, in, out, started);
  return status;
}

Status linear_many(ThreadPool& pool, const float* x, int64_t n, std::span<const LinearOutput> outs,
                   MatmulScratch& scratch) {
  bool together = n == 1 && !outs.empty() && outs.size() <= kMaxDecodeMatrices;
  for (const LinearOutput& o : outs) {
    const Linear& l = *o.linear;
    together = together && l.in() == outs[0].linear->in() && l.out() > 0 && check_rows(l).ok() &&
               decodes_in_pass(l);
  }
  if (!together) {
    for (const LinearOutput& o : outs) {
      RAGKIT_RETURN_IF_ERROR(linear(pool, x, n, *o.linear, o.y, scratch));
    }
    return Status();
  }
  init_blas();
  const auto started = std::chrono::steady_clock::now();
  RAGKIT_RETURN_IF_ERROR(decode_pass(pool, x, outs, scratch));
  int64_t total = 0;
  for (const LinearOutput& o : outs) total += o.linear->out();
  record(n, outs[0].linear->in(), total, started);
  return Status();
}

}  // namespace ragkit::embed::ops

namespace ragkit::embed {

ComputeProfile compute_profile() { return {ops::g_flops.load(), ops::g_nanoseconds.load()}; }

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
