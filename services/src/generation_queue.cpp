#include "generation_queue.h"

namespace ragkit::services {

std::optional<GenerationQueue::Ticket> GenerationQueue::try_admit() {
  std::lock_guard lock(mutex_);
  if (admitted_ >= 1 + max_waiting_) return std::nullopt;
  ++admitted_;
  return Ticket(this);
}

bool GenerationQueue::Ticket::wait_turn(std::chrono::steady_clock::time_point deadline) {
  if (queue_ == nullptr) return false;
  if (has_turn_) return true;
  std::unique_lock lock(queue_->mutex_);
  const bool free = queue_->turn_free_.wait_until(
      lock, deadline, [this] { return !queue_->busy_ || queue_->cancelled_; });
  if (!free || queue_->cancelled_) return false;
  queue_->busy_ = true;
  has_turn_ = true;
  return true;
}

GenerationQueue::Ticket::~Ticket() {
  if (queue_ == nullptr) return;
  {
    std::lock_guard lock(queue_->mutex_);
    --queue_->admitted_;
    if (has_turn_) queue_->busy_ = false;
  }
  queue_->turn_free_.notify_all();
}

void GenerationQueue::cancel() {
  {
    std::lock_guard lock(mutex_);
    cancelled_ = true;
  }
  turn_free_.notify_all();
}

size_t GenerationQueue::waiting() const {
  std::lock_guard lock(mutex_);
  return admitted_ - (busy_ ? 1 : 0);
}

bool GenerationQueue::generating() const {
  std::lock_guard lock(mutex_);
  return busy_;
}

}  // namespace ragkit::services
