#include "ops/row_runs.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "ragkit/common/thread_pool.h"

namespace ragkit::embed::ops {
namespace {

// Takes chunks for the runs in turn, one call each, until none is left; returns how often each
// row was handed out and checks every chunk's bounds.
std::vector<int> drain_in_turns(RowRuns& runs, int n_runs, int64_t total, int64_t chunk) {
  std::vector<int> seen(static_cast<size_t>(total), 0);
  for (bool any = true; any;) {
    any = false;
    for (int r = 0; r < n_runs; ++r) {
      int64_t b = -1, e = -1;
      if (!runs.next(r, &b, &e)) continue;
      any = true;
      EXPECT_LE(0, b);
      EXPECT_LT(b, e);
      EXPECT_LE(e, total);
      EXPECT_LE(e - b, chunk);
      for (int64_t i = b; i < e; ++i) ++seen[static_cast<size_t>(i)];
    }
  }
  return seen;
}

TEST(RowRuns, HandsOutEveryRowOnce) {
  RowRuns runs;
  for (int n_runs : {1, 2, 3, 5}) {
    for (int64_t total : {0, 1, 7, 64, 1000}) {
      for (int64_t chunk : {1, 3, 64}) {
        SCOPED_TRACE(std::to_string(n_runs) + " runs, " + std::to_string(total) + " rows, chunk " +
                     std::to_string(chunk));
        runs.reset(total, n_runs, chunk);
        const std::vector<int> seen = drain_in_turns(runs, n_runs, total, chunk);
        for (int64_t i = 0; i < total; ++i)
          ASSERT_EQ(seen[static_cast<size_t>(i)], 1) << "row " << i;
        int64_t b = 0, e = 0;
        for (int r = 0; r < n_runs; ++r) EXPECT_FALSE(runs.next(r, &b, &e));
      }
    }
  }
}

TEST(RowRuns, AnOwnerReadsItsRunFrontToBackInOneStream) {
  RowRuns runs;
  runs.reset(100, 2, 10);  // run 0: rows 0-49, run 1: rows 50-99
  int64_t b = 0, e = 0;
  for (int64_t want = 0; want < 50; want += 10) {
    ASSERT_TRUE(runs.next(0, &b, &e));
    EXPECT_EQ(b, want);
    EXPECT_EQ(e, want + 10);
  }
  // Run 0 is done: its owner now takes from the back of run 1.
  ASSERT_TRUE(runs.next(0, &b, &e));
  EXPECT_EQ(b, 90);
  EXPECT_EQ(e, 100);
  ASSERT_TRUE(runs.next(1, &b, &e));
  EXPECT_EQ(b, 50);
  EXPECT_EQ(e, 60);
}

TEST(RowRuns, ChunksGrowWhereTheirNumbersWouldNotFit31Bits) {
  RowRuns runs;
  const int64_t total = int64_t{30'000'000'000};
  runs.reset(total, 1, 1);
  int64_t b = 0, e = 0;
  ASSERT_TRUE(runs.next(0, &b, &e));
  EXPECT_EQ(b, 0);
  EXPECT_EQ(e, (total + (int64_t{1} << 31) - 1) / (int64_t{1} << 31));
  // Few large chunks: drain them all; the last one ends at the last row.
  runs.reset(total, 3, int64_t{1'000'000'000});
  int64_t covered = 0, last_end = 0;
  for (int r = 0; r < 3; ++r) {
    while (runs.next(r, &b, &e)) {
      covered += e - b;
      last_end = std::max(last_end, e);
    }
  }
  EXPECT_EQ(covered, total);
  EXPECT_EQ(last_end, total);
}

// Threads that finish their own run take the rest of a slow thread's run; every row still goes
// to exactly one thread.
TEST(RowRuns, ThreadsShareTheRowsOfASlowRun) {
  ThreadPool pool(3);
  RowRuns runs;
  const int64_t total = 20000, chunk = 7;
  std::vector<std::atomic<int>> seen(static_cast<size_t>(total));
  std::vector<std::atomic<int>> taken_by(static_cast<size_t>(total));
  for (int round = 0; round < 5; ++round) {
    for (auto& s : seen) s.store(0);
    runs.reset(total, 3, chunk);
    pool.parallel_for(3, [&](size_t task, int) {
      if (task == 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
      int64_t b = 0, e = 0;
      while (runs.next(static_cast<int>(task), &b, &e)) {
        for (int64_t i = b; i < e; ++i) {
          seen[static_cast<size_t>(i)].fetch_add(1);
          taken_by[static_cast<size_t>(i)].store(static_cast<int>(task));
        }
      }
    });
    for (int64_t i = 0; i < total; ++i) {
      ASSERT_EQ(seen[static_cast<size_t>(i)].load(), 1) << "round " << round << " row " << i;
    }
    // Run 0 (the first third) was mostly done by the others while its owner slept.
    int64_t by_others = 0;
    for (int64_t i = 0; i < total / 3; ++i)
      by_others += taken_by[static_cast<size_t>(i)].load() != 0;
    EXPECT_GT(by_others, total / 6) << "round " << round;
  }
}

}  // namespace
}  // namespace ragkit::embed::ops
