// Decode-step throughput of the matrix kernels, per weight type and instruction set: one
// activation row times a 576 x 1536 matrix (a SmolLM2-135M FFN projection), one thread, through
// ops::linear (activation conversion + dot kernels), the matrix warm in the cache. Reported as
// GB/s of weights read. End-to-end decoding against llama.cpp is `rag bench generate`.
//
//   build/bench/ragkit_quant_dot_bench [--benchmark_filter=Q8_0]
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "ops/matmul.h"
#include "ops/quant_dot.h"
#include "ragkit/embed/quantize.h"

namespace {

using namespace ragkit;
using namespace ragkit::embed;

void BM_DecodeRow(benchmark::State& state, DType type, ops::Isa isa) {
  if (!ops::isa_supported(isa)) {
    state.SkipWithError("this CPU lacks the instruction set");
    return;
  }
  constexpr int64_t kIn = 1536, kOut = 576;
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> row(kIn), x(kIn), y(kOut);
  for (float& v : x) v = normal(rng);
  const size_t row_size = *row_bytes(type, kIn);
  std::vector<uint8_t> weights(row_size * kOut);
  for (int64_t r = 0; r < kOut; ++r) {
    for (float& v : row) v = normal(rng);
    if (!quantize_row(type, row.data(), weights.data() + r * row_size, kIn).ok()) {
      state.SkipWithError("cannot quantize to this type");
      return;
    }
  }
  Linear l;
  l.weight.name = "w";
  l.weight.dtype = type;
  l.weight.n_dims = 2;
  l.weight.ne = {kIn, kOut, 1, 1};
  l.weight.data = weights.data();
  l.weight.n_bytes = weights.size();
  ThreadPool pool(1);
  ops::MatmulScratch scratch;
  ops::force_isa(isa);
  for (auto _ : state) {
    if (!ops::linear(pool, x.data(), 1, l, y.data(), scratch).ok()) state.SkipWithError("linear failed");
    benchmark::DoNotOptimize(y.data());
  }
  ops::force_isa(ops::best_isa());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(weights.size()));
}

void register_all() {
  for (DType type : {DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0, DType::kQ5_0,
                     DType::kQ4_K, DType::kQ6_K}) {
    for (ops::Isa isa : ops::kAllIsas) {
      benchmark::RegisterBenchmark(
          (std::string("DecodeRow576x1536/") + dtype_name(type) + "/" + ops::isa_name(isa)).c_str(),
          BM_DecodeRow, type, isa);
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
