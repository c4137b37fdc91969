// One decoded token's attention over a cache of SmolLM2-135M's shape (30 layers, 3 key/value
// heads of 64, 9 query heads), one thread, all slices of every layer: how fast the cached keys
// and values are read, in GB/s of cache (F32 or F16), when they come from memory (the 30 layers
// together are larger than the caches) — the part of a decoding step that grows with the context.
//
//   build/bench/ragkit_attention_bench [--benchmark_filter=...]
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "ops/decode_attention.h"
#include "ragkit/embed/tensor.h"

namespace {

using namespace ragkit;
using namespace ragkit::embed;

void BM_DecodeAttention(benchmark::State& state, SimdIsa isa, bool f16) {
  if (!simd_isa_supported(isa)) {
    state.SkipWithError("this CPU lacks the instruction set");
    return;
  }
  constexpr int64_t kLayers = 30, kHeadsKv = 3, kGroup = 3, kHd = 64, kWidth = kHeadsKv * kHd;
  const int64_t count = state.range(0);
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> keys(static_cast<size_t>(kLayers * count * kWidth));
  std::vector<float> values(keys.size());
  std::vector<float> q(static_cast<size_t>(kHeadsKv * kGroup * kHd));
  for (float& v : keys) v = normal(rng);
  for (float& v : values) v = normal(rng);
  for (float& v : q) v = normal(rng);
  // An F16 cache (the default): the same numbers as IEEE halves.
  std::vector<uint16_t> keys16(keys.size()), values16(values.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    keys16[i] = fp32_to_fp16(keys[i]);
    values16[i] = fp32_to_fp16(values[i]);
  }
  std::vector<float> scores(static_cast<size_t>(kGroup * count)), out(kGroup * kHd);
  float max[kGroup], sum[kGroup];
  for (auto _ : state) {
    for (int64_t layer = 0; layer < kLayers; ++layer) {
      for (int64_t kh = 0; kh < kHeadsKv; ++kh) {
        ops::AttentionSlice s;
        s.q = q.data() + kh * kGroup * kHd;
        // KvCache's layout: each head's positions contiguous.
        const int64_t at = (layer * kHeadsKv + kh) * count * kHd;
        if (f16) {
          s.keys = keys16.data() + at;
          s.values = values16.data() + at;
          s.f16 = true;
        } else {
          s.keys = keys.data() + at;
          s.values = values.data() + at;
        }
        s.stride = kHd;
        s.count = count;
        s.group = kGroup;
        s.head_dim = kHd;
        s.scale = 0.125f;
        ops::attend_slice_with(isa, s, scores.data(), out.data(), max, sum);
        benchmark::DoNotOptimize(out.data());
      }
    }
  }
  const int64_t element_bytes = f16 ? int64_t{sizeof(uint16_t)} : int64_t{sizeof(float)};
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * 2 * kLayers * count * kWidth *
                          element_bytes);
}

BENCHMARK_CAPTURE(BM_DecodeAttention, f32_scalar, SimdIsa::kScalar, false)->Arg(576);
BENCHMARK_CAPTURE(BM_DecodeAttention, f32_avx2, SimdIsa::kAvx2, false)
    ->Arg(64)
    ->Arg(576)
    ->Arg(2048);
BENCHMARK_CAPTURE(BM_DecodeAttention, f16_avx2, SimdIsa::kAvx2, true)->Arg(64)->Arg(576)->Arg(2048);
BENCHMARK_CAPTURE(BM_DecodeAttention, f32_avx512, SimdIsa::kAvx512, false)
    ->Arg(64)
    ->Arg(576)
    ->Arg(2048);
BENCHMARK_CAPTURE(BM_DecodeAttention, f16_avx512, SimdIsa::kAvx512, true)
    ->Arg(64)
    ->Arg(576)
    ->Arg(2048);

}  // namespace

BENCHMARK_MAIN();
