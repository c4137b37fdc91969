#include "ragkit/common/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace ragkit {
namespace {

TEST(ThreadPool, RunsEveryTaskOnceWithDistinctThreadIds) {
  ThreadPool pool(4);
  std::vector<std::atomic<int>> hits(1000);
  std::vector<std::atomic<int>> busy(pool.size());
  std::atomic<bool> overlap{false};
  pool.parallel_for(hits.size(), [&](size_t task, int thread) {
    if (busy[thread].fetch_add(1) != 0) overlap = true;
    hits[task].fetch_add(1);
    busy[thread].fetch_sub(1);
  });
  for (auto& h : hits) EXPECT_EQ(h.load(), 1);
  EXPECT_FALSE(overlap.load());
}

TEST(ThreadPool, ManyRoundsAndSingleThread) {
  ThreadPool pool(3);
  ThreadPool single(1);
  for (int round = 0; round < 200; ++round) {
    std::atomic<size_t> sum{0};
    pool.parallel_for(round, [&](size_t task, int) { sum += task; });
    EXPECT_EQ(sum.load(), static_cast<size_t>(round) * (round - 1) / 2);
    size_t s = 0;
    single.parallel_for(round, [&](size_t task, int thread) { EXPECT_EQ(thread, 0); s += task; });
    EXPECT_EQ(s, static_cast<size_t>(round) * (round - 1) / 2);
  }
}

}  // namespace
}  // namespace ragkit

namespace ragkit {
namespace {

// Workers spin between close calls and sleep after idle time; calls must complete either way,
// including right at the moment a worker is falling asleep.
TEST(ThreadPoolWake, CallsCompleteWhetherWorkersSpinOrSleep) {
  ThreadPool pool(4);
  std::atomic<long> sum{0};
  for (int round = 0; round < 200; ++round) {
    pool.parallel_for(8, [&](size_t task, int) { sum += static_cast<long>(task); });
    if (round % 20 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    if (round % 7 == 0) std::this_thread::sleep_for(std::chrono::microseconds(50 + round));
  }
  EXPECT_EQ(sum.load(), 200L * 28);
}

TEST(ThreadPoolWake, EveryWorkerTakesPartInManyShortCalls) {
  ThreadPool pool(3);
  std::vector<std::atomic<int>> per_thread(3);
  for (int round = 0; round < 2000; ++round) {
    pool.parallel_for(64, [&](size_t, int thread) { per_thread[static_cast<size_t>(thread)]++; });
  }
  int total = 0;
  for (auto& n : per_thread) total += n.load();
  EXPECT_EQ(total, 2000 * 64);
}

}  // namespace
}  // namespace ragkit
