// GenerationQueue: admission control for generations (asks and chat completions). One request
// generates at a time (the generator's KV cache is one), at most `max_waiting` more wait for
// their turn, and any beyond that is refused at once (the caller answers 429 with Retry-After) —
// the queue never grows without bound, and a burst cannot tie up every HTTP thread.
//
// Usage: try_admit() -> a Ticket (or nullopt: full); Ticket::wait_turn(deadline) blocks until
// this request may generate (false on timeout or cancel()); the Ticket's destructor leaves the
// queue and wakes the next.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>

namespace ragkit::services {

class GenerationQueue {
 public:
  explicit GenerationQueue(size_t max_waiting) : max_waiting_(max_waiting) {}

  class Ticket {
   public:
    Ticket(Ticket&& other) noexcept : queue_(other.queue_), has_turn_(other.has_turn_) {
      other.queue_ = nullptr;
    }
    Ticket& operator=(Ticket&&) = delete;
    ~Ticket();
    // Blocks until this ticket is the one generating; false when `deadline` passes first or the
    // queue is cancelled (the ticket still leaves the queue on destruction).
    bool wait_turn(std::chrono::steady_clock::time_point deadline);

   private:
    friend class GenerationQueue;
    explicit Ticket(GenerationQueue* queue) : queue_(queue) {}
    GenerationQueue* queue_;
    bool has_turn_ = false;
  };

  // A place in the queue, or nullopt when one generates and max_waiting already wait.
  std::optional<Ticket> try_admit();
  // Wakes every waiter with false and refuses new tickets' turns (shutdown).
  void cancel();

  size_t waiting() const;   // admitted, not generating
  bool generating() const;  // a ticket holds the turn
  size_t max_waiting() const { return max_waiting_; }

 private:
  const size_t max_waiting_;
  mutable std::mutex mutex_;
  std::condition_variable turn_free_;
  size_t admitted_ = 0;  // tickets alive, the generating one included
  bool busy_ = false;    // a ticket holds the turn
  bool cancelled_ = false;
};

}  // namespace ragkit::services
