#include "tandem/controller/desired_state_watch.h"

namespace tandem::controller {

void DesiredStateWatch::add(Watcher watcher) {
  std::lock_guard lock(mu_);
  watchers_.push_back(std::move(watcher));
}

std::vector<DesiredStateWatch::Watcher> DesiredStateWatch::takeDue(
    const NodeGenerations& generation_of, std::chrono::steady_clock::time_point now) {
  std::vector<Watcher> due;
  std::lock_guard lock(mu_);
  auto keep = watchers_.begin();
  for (auto it = watchers_.begin(); it != watchers_.end(); ++it) {
    bool fire = now >= it->deadline;
    if (!fire) {
      const Result<uint64_t> generation = generation_of(it->node);
      fire = !generation.isOk() || *generation > it->after;
    }
    if (fire) {
      due.push_back(std::move(*it));
    } else {
      if (keep != it) *keep = std::move(*it);
      ++keep;
    }
  }
  watchers_.erase(keep, watchers_.end());
  return due;
}

std::vector<DesiredStateWatch::Watcher> DesiredStateWatch::takeAll() {
  std::lock_guard lock(mu_);
  std::vector<Watcher> all;
  all.swap(watchers_);
  return all;
}

size_t DesiredStateWatch::size() {
  std::lock_guard lock(mu_);
  return watchers_.size();
}

}  // namespace tandem::controller
