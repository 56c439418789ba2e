// DesiredStateWatch: the pending desired-state long-polls. It only keeps them and says which
// are due; it calls nothing. ClusterService takes the due ones and answers them with no lock held.
// Thread-safe (its own mutex, never held while calling out).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "tandem/common/status.h"
#include "tandem/controller/cluster_views.h"

namespace tandem::controller {

class DesiredStateWatch {
 public:
  struct Watcher {
    std::string node;
    uint64_t after = 0;                              // answer once the generation passes this
    std::chrono::steady_clock::time_point deadline;  // or at this time
    std::function<void(Result<DesiredState>)> done;
  };

  void add(Watcher watcher);
  // Removes and returns the watchers due: every one when `generation` is an error (the store
  // cannot say), else those whose `after` it passed or whose deadline is at or before `now`.
  std::vector<Watcher> takeDue(const Result<uint64_t>& generation, std::chrono::steady_clock::time_point now);
  // Removes and returns every watcher (shutdown).
  std::vector<Watcher> takeAll();
  size_t size();

 private:
  std::mutex mu_;
  std::vector<Watcher> watchers_;
};

}  // namespace tandem::controller
