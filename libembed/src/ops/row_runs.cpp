#include "ops/row_runs.h"

#include <algorithm>

namespace ragkit::embed::ops {

void RowRuns::reset(int64_t total, int runs, int64_t chunk) {
  runs = std::max(runs, 1);
  if (runs > capacity_) {
    runs_ = std::make_unique<Run[]>(static_cast<size_t>(runs));
    capacity_ = runs;
  }
  total_ = std::max<int64_t>(total, 0);
  // Chunk numbers must fit 31 bits (and so the packed halves).
  constexpr int64_t kMaxChunks = int64_t{1} << 31;
  chunk_ = std::max<int64_t>({chunk, 1, (total_ + kMaxChunks - 1) / kMaxChunks});
  n_runs_ = runs;
  const int64_t chunks = (total_ + chunk_ - 1) / chunk_;
  for (int r = 0; r < runs; ++r) {
    const auto front = static_cast<uint32_t>(chunks * r / runs);
    const auto back = static_cast<uint32_t>(chunks * (r + 1) / runs);
    runs_[r].range.store(pack(front, back), std::memory_order_relaxed);
  }
}

bool RowRuns::take_front(Run& r, uint32_t* chunk) {
  uint64_t cur = r.range.load(std::memory_order_relaxed);
  for (;;) {
    const auto front = static_cast<uint32_t>(cur), back = static_cast<uint32_t>(cur >> 32);
    if (front >= back) return false;
    if (r.range.compare_exchange_weak(cur, pack(front + 1, back), std::memory_order_relaxed)) {
      *chunk = front;
      return true;
    }
  }
}

bool RowRuns::take_back(Run& r, uint32_t* chunk) {
  uint64_t cur = r.range.load(std::memory_order_relaxed);
  for (;;) {
    const auto front = static_cast<uint32_t>(cur), back = static_cast<uint32_t>(cur >> 32);
    if (front >= back) return false;
    if (r.range.compare_exchange_weak(cur, pack(front, back - 1), std::memory_order_relaxed)) {
      *chunk = back - 1;
      return true;
    }
  }
}

bool RowRuns::next(int run, int64_t* begin, int64_t* end) {
  // Relaxed order is enough: a chunk is claimed by exactly one thread through the exchange, and
  // the rows' results are published by the pool's join, not through these words.
  uint32_t chunk = 0;
  bool found = take_front(runs_[run], &chunk);
  for (int k = 1; !found && k < n_runs_; ++k) found = take_back(runs_[(run + k) % n_runs_], &chunk);
  if (!found) return false;
  *begin = static_cast<int64_t>(chunk) * chunk_;
  *end = std::min(total_, *begin + chunk_);
  return true;
}

}  // namespace ragkit::embed::ops
