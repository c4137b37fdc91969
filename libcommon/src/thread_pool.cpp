#include "ragkit/common/thread_pool.h"

#include <memory>

namespace ragkit {

ThreadPool::ThreadPool(int n_threads) {
  if (n_threads <= 0) n_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  n_threads_ = n_threads;
  workers_.reserve(n_threads - 1);
  for (int t = 1; t < n_threads; ++t) workers_.emplace_back([this, t] { worker_loop(t); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_.store(true);
  }
  wake_.notify_all();
  for (auto& w : workers_) w.join();
}

namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Pause instructions a worker spins through before it sleeps (~100 us on current x86 cores).
constexpr int kSpinsBeforeSleep = 4000;

}  // namespace

void ThreadPool::work(int thread) {
  for (;;) {
    size_t task = next_task_.fetch_add(1, std::memory_order_relaxed);
    if (task >= n_tasks_) return;
    fn_(ctx_, task, thread);
  }
}

void ThreadPool::run(size_t n_tasks, TaskFn fn, void* ctx) {
  if (n_tasks == 0) return;
  std::lock_guard<std::mutex> submit(submit_mutex_);
  if (workers_.empty() || n_tasks == 1) {
    for (size_t i = 0; i < n_tasks; ++i) fn(ctx, i, 0);
    return;
  }
  fn_ = fn;
  ctx_ = ctx;
  n_tasks_ = n_tasks;
  next_task_.store(0, std::memory_order_relaxed);
  active_workers_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
  // seq_cst: either a worker going to sleep sees the new generation, or we see it asleep.
  generation_.fetch_add(1);
  if (sleepers_.load() > 0) {
    std::lock_guard<std::mutex> lock(mutex_);
    wake_.notify_all();
  }
  work(0);
  for (int spins = 0; active_workers_.load(std::memory_order_acquire) != 0; ++spins) {
    if (spins < kSpinsBeforeSleep) {
      cpu_relax();
    } else {
      std::this_thread::yield();  // a worker was descheduled: give it the core
    }
  }
  fn_ = nullptr;
}

void ThreadPool::worker_loop(int thread) {
  uint64_t seen = 0;
  for (;;) {
    uint64_t now = generation_.load(std::memory_order_acquire);
    for (int spins = 0; now == seen && spins < kSpinsBeforeSleep; ++spins) {
      cpu_relax();
      now = generation_.load(std::memory_order_acquire);
    }
    if (now == seen) {
      std::unique_lock<std::mutex> lock(mutex_);
      sleepers_.fetch_add(1);
      wake_.wait(lock, [&] { return stop_.load() || generation_.load() != seen; });
      sleepers_.fetch_sub(1);
      if (stop_.load()) return;
      now = generation_.load(std::memory_order_acquire);
    }
    if (stop_.load(std::memory_order_relaxed)) return;
    seen = now;
    work(thread);
    active_workers_.fetch_sub(1, std::memory_order_release);
  }
}

namespace {
std::mutex g_default_mutex;
std::unique_ptr<ThreadPool> g_default_pool;
int g_default_threads = 0;
}  // namespace

ThreadPool& ThreadPool::default_pool() {
  std::lock_guard<std::mutex> lock(g_default_mutex);
  if (!g_default_pool) g_default_pool = std::make_unique<ThreadPool>(g_default_threads);
  return *g_default_pool;
}

bool ThreadPool::set_default_threads(int n_threads) {
  std::lock_guard<std::mutex> lock(g_default_mutex);
  if (g_default_pool) return g_default_pool->size() == n_threads;
  g_default_threads = n_threads;
  return true;
}

}  // namespace ragkit
