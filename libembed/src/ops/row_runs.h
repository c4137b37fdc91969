// RowRuns: how the threads share the weight rows of a decoded token's matrix products.
//
// Decoding reads every weight once from memory, and a thread reads fastest when its rows are one
// contiguous stream (four interleaved tasks per thread read at half the speed, matmul.cpp). But
// equal runs do not finish together: the two threads of a 2-core machine drift by a few percent
// per product, and with ~150 products per token each thread spent 7-8% of decoding waiting for
// the other. So each thread owns one contiguous run, which it consumes from the front in chunks;
// a thread whose run is done takes chunks from the back of the others', until no rows are left.
// The owner's stream stays contiguous; only the last few chunks of a run change hands.
//
// Thread-safety: reset() while no thread calls next(); next() from any number of threads, each
// with its own run.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

namespace ragkit::embed::ops {

class RowRuns {
 public:
  // Rows [0, total) in `runs` runs of nearly equal length (whole chunks), handed out `chunk` rows
  // at a time (a larger chunk where total / chunk would not fit 31 bits). total >= 0, runs >= 1,
  // chunk >= 1. Storage grows to the largest number of runs seen and is then reused.
  void reset(int64_t total, int runs, int64_t chunk);

  // The next rows [*begin, *end) for the thread that owns run `run`: from the front of its own
  // run, and once that is empty from the back of the others'. False when no rows are left.
  bool next(int run, int64_t* begin, int64_t* end);

 private:
  // A run's remaining chunks [front, back), packed into one word so that the owner and a thief
  // claim with one compare-exchange; a cache line each, so owners do not share lines.
  struct alignas(64) Run {
    std::atomic<uint64_t> range{0};
  };
  static uint64_t pack(uint32_t front, uint32_t back) {
    return front | (static_cast<uint64_t>(back) << 32);
  }
  bool take_front(Run& r, uint32_t* chunk);
  bool take_back(Run& r, uint32_t* chunk);

  std::unique_ptr<Run[]> runs_;
  int capacity_ = 0;
  int n_runs_ = 0;
  int64_t total_ = 0;
  int64_t chunk_ = 1;
};

}  // namespace ragkit::embed::ops
