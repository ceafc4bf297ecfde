#include "gateway/inbox.h"

namespace yiban::edge::gateway {

void Inbox::push(InboxItem item) {
  std::unique_lock lock(mutex_);
  not_full_.wait(lock, [&] { return items_.size() < capacity_; });
  items_.push_back(std::move(item));
  lock.unlock();
  not_empty_.notify_one();
}

std::vector<InboxItem> Inbox::pop_batch(std::chrono::milliseconds timeout, std::size_t max) {
  std::vector<InboxItem> out;
  std::unique_lock lock(mutex_);
  not_empty_.wait_for(lock, timeout, [&] { return !items_.empty() || woken_; });
  woken_ = false;
  while (!items_.empty() && out.size() < max) {
    out.push_back(std::move(items_.front()));
    items_.pop_front();
  }
  lock.unlock();
  if (!out.empty()) not_full_.notify_all();
  return out;
}

void Inbox::wake() {
  {
    std::lock_guard lock(mutex_);
    woken_ = true;
  }
  not_empty_.notify_one();
}

std::size_t Inbox::size() const {
  std::lock_guard lock(mutex_);
  return items_.size();
}

}  // namespace yiban::edge::gateway
