// Throughput of the matrix kernels, per weight type and instruction set, one thread, through
// ops::linear (activation conversion + dot kernels), on a 576 x 1536 matrix (a SmolLM2-135M FFN
// projection):
//   DecodeRow576x1536: one activation row, the matrix warm in the cache (what the arithmetic
//     allows), in GB/s of weights read;
//   DecodeFromMemory576x1536: one activation row, going through 512 MB of such matrices in turn
//     so that every weight comes from memory as in decoding (what the loads allow), GB/s;
//   Batch64x576x1536: 64 activation rows (a prefill's batch), in GFLOP/s (2 per multiply-add).
// Each for the rows as a file has them and, where the CPU has kernels for them, packed eight at a
// time as the model loader packs them (".../avx512-vnni-packed"; ops/packed_rows.h).
// End-to-end decoding and prefill against llama.cpp is `rag bench generate`.
//
//   build/bench/ragkit_quant_dot_bench [--benchmark_filter=Q8_0]
#include <benchmark/benchmark.h>

#include <random>
#include <span>
#include <vector>

#include "ops/matmul.h"
#include "ops/packed_rows.h"
#include "ops/quant_dot.h"
#include "ragkit/common/huge_page_memory.h"
#include "ragkit/embed/quantize.h"

namespace {

using namespace ragkit;
using namespace ragkit::embed;

// `copies` matrices of random weights, quantized to `type`, one after another, times `rows`
// activation rows.
void BM_Product(benchmark::State& state, DType type, ops::Isa isa, int64_t copies, int64_t rows,
                bool packed) {
  if (!ops::isa_supported(isa)) {
    state.SkipWithError("this CPU lacks the instruction set");
    return;
  }
  constexpr int64_t kIn = 1536, kOut = 576;
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> row(kIn), x(static_cast<size_t>(rows * kIn)),
      y(static_cast<size_t>(rows * kOut));
  for (float& v : x) v = normal(rng);
  const size_t row_size = *row_bytes(type, kIn);
  const size_t matrix_bytes = row_size * kOut;
  // In 2 MB pages, as a generator's weights read into memory are (HugePageMemory).
  Result<HugePageMemory> memory =
      HugePageMemory::allocate(matrix_bytes * static_cast<size_t>(copies));
  if (!memory.ok()) {
    state.SkipWithError(memory.status().message().c_str());
    return;
  }
  const std::span<uint8_t> weights(memory->data(), memory->size());
  for (int64_t r = 0; r < kOut; ++r) {
    for (float& v : row) v = normal(rng);
    if (!quantize_row(type, row.data(), weights.data() + r * row_size, kIn).ok()) {
      state.SkipWithError("cannot quantize to this type");
      return;
    }
  }
  for (int64_t c = 1; c < copies; ++c) {
    std::copy(weights.begin(), weights.begin() + static_cast<std::ptrdiff_t>(matrix_bytes),
              weights.begin() + static_cast<std::ptrdiff_t>(c * matrix_bytes));
  }
  // The packed form of every copy (ops/packed_rows.h), in 2 MB pages as the model loader keeps it.
  HugePageMemory packed_memory;
  const size_t packed_bytes = packed ? ops::packed_bytes(type, kIn, kOut) : 0;
  if (packed) {
    Result<HugePageMemory> m = HugePageMemory::allocate(packed_bytes * static_cast<size_t>(copies));
    if (!m.ok()) {
      state.SkipWithError(m.status().message().c_str());
      return;
    }
    packed_memory = std::move(*m);
    for (int64_t c = 0; c < copies; ++c) {
      ops::pack_rows(type, kIn, weights.data() + c * matrix_bytes, row_size, kOut,
                     packed_memory.data() + c * packed_bytes);
    }
  }
  Linear l;
  l.weight.name = "w";
  l.weight.dtype = type;
  l.weight.n_dims = 2;
  l.weight.ne = {kIn, kOut, 1, 1};
  l.weight.data = weights.data();
  l.weight.n_bytes = matrix_bytes;
  ThreadPool pool(1);
  ops::MatmulScratch scratch;
  ops::force_isa(isa);
  int64_t next = 0;
  for (auto _ : state) {
    l.weight.data = weights.data() + static_cast<size_t>(next) * matrix_bytes;
    if (packed) l.packed = packed_memory.data() + static_cast<size_t>(next) * packed_bytes;
    next = next + 1 == copies ? 0 : next + 1;
    if (!ops::linear(pool, x.data(), rows, l, y.data(), scratch).ok()) {
      state.SkipWithError("linear failed");
    }
    benchmark::DoNotOptimize(y.data());
  }
  ops::force_isa(ops::best_isa());
  if (rows == 1) {
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                            static_cast<int64_t>(matrix_bytes));
  } else {
    state.counters["GFLOP/s"] = benchmark::Counter(
        2e-9 * static_cast<double>(rows * kIn * kOut) * static_cast<double>(state.iterations()),
        benchmark::Counter::kIsRate);
  }
}

void register_all() {
  for (DType type : {DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0, DType::kQ5_0,
                     DType::kQ4_K, DType::kQ6_K}) {
    const size_t matrix_bytes = *row_bytes(type, 1536) * 576;
    const auto from_memory = static_cast<int64_t>((size_t{512} << 20) / matrix_bytes);
    for (ops::Isa isa : ops::kAllIsas) {
      for (bool packed : {false, true}) {
        if (packed && !ops::has_packed_kernel(type, isa)) continue;
        const std::string suffix =
            std::string(dtype_name(type)) + "/" + ops::isa_name(isa) + (packed ? "-packed" : "");
        benchmark::RegisterBenchmark(("DecodeRow576x1536/" + suffix).c_str(), BM_Product, type, isa,
                                     int64_t{1}, int64_t{1}, packed);
        benchmark::RegisterBenchmark(("DecodeFromMemory576x1536/" + suffix).c_str(), BM_Product,
                                     type, isa, from_memory, int64_t{1}, packed);
        benchmark::RegisterBenchmark(("Batch64x576x1536/" + suffix).c_str(), BM_Product, type, isa,
                                     int64_t{1}, int64_t{64}, packed);
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
