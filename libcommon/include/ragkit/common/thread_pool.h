// ThreadPool: the one pool that runs ragkit's compute (matrix work, attention, pooling).
//
// The HTTP service has its own threads; they submit work here. parallel_for splits [0, n) into
// tasks that the workers and the calling thread take one at a time, and returns when all are done.
// Nothing is allocated per call: the callable is passed by reference through a function pointer.
//
// Latency: decoding one token runs hundreds of short parallel_for calls (tens of microseconds
// each), so waking workers through a condition variable every time would cost more than the
// work. Workers spin on an atomic for a short while after each call (about 100 us) and only then
// sleep; the caller spins until the workers are done. An idle pool sleeps.
// Calls from several threads at once are serialised (one parallel_for runs at a time), so two
// requests never oversubscribe the cores.
//
// Thread-safety: parallel_for may be called from any thread. It must not be called from inside
// a task of the same pool.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <thread>
#include <vector>

namespace ragkit {

class ThreadPool {
 public:
  // n_threads counts the calling thread: 1 means no worker threads. 0 means the number of cores.
  explicit ThreadPool(int n_threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Calls fn(task, thread) for every task in [0, n_tasks); `thread` is in [0, size()) and is
  // unique among the calls running at the same moment (use it to pick per-thread scratch).
  template <typename Fn>
  void parallel_for(size_t n_tasks, Fn&& fn) {
    auto trampoline = [](void* ctx, size_t task, int thread) {
      (*static_cast<std::remove_reference_t<Fn>*>(ctx))(task, thread);
    };
    run(n_tasks, trampoline, const_cast<void*>(static_cast<const void*>(&fn)));
  }

  // The process-wide pool, sized by set_default_threads() or the number of cores.
  static ThreadPool& default_pool();
  // Must be called before the first default_pool(); returns false if too late.
  static bool set_default_threads(int n_threads);

 private:
  using TaskFn = void (*)(void* ctx, size_t task, int thread);
  void run(size_t n_tasks, TaskFn fn, void* ctx);
  void worker_loop(int thread);
  void work(int thread);

  int n_threads_;
  std::vector<std::thread> workers_;
  std::mutex submit_mutex_;  // one parallel_for at a time

  // The current call, published by bumping generation_.
  TaskFn fn_ = nullptr;
  void* ctx_ = nullptr;
  size_t n_tasks_ = 0;
  std::atomic<uint64_t> generation_{0};
  std::atomic<size_t> next_task_{0};
  std::atomic<int> active_workers_{0};  // workers still in the current call

  // Sleeping workers wait here; sleepers_ says whether a submitter must notify.
  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<int> sleepers_{0};
  std::atomic<bool> stop_{false};
};

}  // namespace ragkit
