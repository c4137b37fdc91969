// measure_read_bandwidth_gbs (profile.h).
#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <vector>

#include "ops/stream_prefetch.h"
#include "ragkit/common/huge_page_memory.h"
#include "ragkit/embed/profile.h"

namespace ragkit::embed {

namespace {

// Eight independent accumulators keep enough loads in flight to saturate memory; the compiler
// vectorises the loop for each target. With kPrefetch, the lines ahead are also prefetched into
// L1 and L2 the way the decode kernels do it (StreamPrefetch): on the Xeon VM this was measured
// on that read 28.9 GB/s over two threads where plain loads read 24.4, and a bound from plain
// loads was beaten by F32 decoding.
template <bool kPrefetch>
[[gnu::always_inline]] inline uint64_t sum_words(const uint64_t* p, size_t n) {
  uint64_t acc[8] = {};
  ops::StreamPrefetch prefetch(p);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    if constexpr (kPrefetch) prefetch.consumed(p + i + 8);
    for (int j = 0; j < 8; ++j) acc[j] += p[i + static_cast<size_t>(j)];
  }
  for (; i < n; ++i) acc[0] += p[i];
  uint64_t s = 0;
  for (uint64_t a : acc) s += a;
  return s;
}

// The loops compiled for each target (clang's target_clones takes no function templates).
__attribute__((target_clones("avx512f", "avx2", "default"))) uint64_t sum_plain(const uint64_t* p,
                                                                                size_t n) {
  return sum_words<false>(p, n);
}
__attribute__((target_clones("avx512f", "avx2", "default"))) uint64_t sum_prefetched(
    const uint64_t* p, size_t n) {
  return sum_words<true>(p, n);
}

}  // namespace

double measure_read_bandwidth_gbs(ThreadPool& pool, size_t bytes, double seconds) {
  const size_t words = std::max<size_t>(bytes / sizeof(uint64_t), 1 << 20);
  // In 2 MB pages where the kernel allows them, as weights read into memory are (--no-mmap): with
  // 4 KB pages the probe measured the TLB as much as the memory, and models decoded faster than
  // the "bound" it gave.
  Result<HugePageMemory> memory = HugePageMemory::allocate(words * sizeof(uint64_t));
  if (!memory.ok()) return 0.0;
  auto* buffer = reinterpret_cast<uint64_t*>(memory->data());
  // Touch every page (and give the words values) before timing.
  pool.parallel_for(static_cast<size_t>(pool.size()), [&](size_t t, int) {
    const size_t per = words / static_cast<size_t>(pool.size());
    const size_t begin = t * per,
                 end = t + 1 == static_cast<size_t>(pool.size()) ? words : begin + per;
    for (size_t i = begin; i < end; ++i) buffer[i] = i;
  });
  std::vector<uint64_t> sink(static_cast<size_t>(pool.size()));
  double best = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  // Plain loads and prefetched ones in turn; the faster pattern's best pass counts.
  for (bool prefetch = false;; prefetch = !prefetch) {
    const auto t0 = std::chrono::steady_clock::now();
    pool.parallel_for(static_cast<size_t>(pool.size()), [&](size_t t, int) {
      const size_t per = words / static_cast<size_t>(pool.size());
      const size_t begin = t * per;
      const size_t end = t + 1 == static_cast<size_t>(pool.size()) ? words : begin + per;
      sink[t] += prefetch ? sum_prefetched(buffer + begin, end - begin)
                          : sum_plain(buffer + begin, end - begin);
    });
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, static_cast<double>(words * sizeof(uint64_t)) / s / 1e9);
    if (prefetch && std::chrono::steady_clock::now() >= deadline) break;
  }
  // Keep the sums observable so the loads cannot be optimised away.
  volatile uint64_t keep = 0;
  for (uint64_t v : sink) keep = keep + v;
  (void)keep;
  return best;
}

}  // namespace ragkit::embed
