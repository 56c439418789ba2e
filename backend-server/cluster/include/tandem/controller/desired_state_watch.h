// DesiredStateWatch: the pending desired-state long-polls. It only keeps them and says which
// are due (by each one's node generation, so a change wakes only the nodes it concerns); it
// calls nothing but the generation lookup. ClusterService takes the due ones and answers them
// with no lock held. Thread-safe (its own mutex, held while calling out only for that lookup).
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
    uint64_t after = 0;                              // answer once the node's generation passes this
    std::chrono::steady_clock::time_point deadline;  // or at this time
    std::function<void(Result<DesiredState>)> done;
    bool delta = false;  // the poll takes a delta (DesiredForm::kDelta)
  };

  void add(Watcher watcher);
  // The generation of the last change to a node's desired state (Store::nodeGeneration).
  using NodeGenerations = std::function<Result<uint64_t>(const std::string& node)>;
  // Removes and returns the watchers due: those whose node's generation (`generation_of`, an
  // error: the store cannot say, so due) passed their `after`, and those whose deadline is at or
  // before `now`. `generation_of` is called with the watch's mutex held: it must not call the watch.
  std::vector<Watcher> takeDue(const NodeGenerations& generation_of, std::chrono::steady_clock::time_point now);
  // Removes and returns every watcher (shutdown).
  std::vector<Watcher> takeAll();
  size_t size();

 private:
  std::mutex mu_;
  std::vector<Watcher> watchers_;
};

}  // namespace tandem::controller
