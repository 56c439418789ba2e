// AckWaiter: one outstanding frame's acknowledgement, completed once by the connection that
// carries it (with the replica's status, or kUnavailable when the connection dies).
// Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "tandem/common/status.h"

namespace tandem::replication {

class AckWaiter {
 public:
  void complete(Status status) {
    {
      std::lock_guard lock(mu_);
      if (done_) return;
      done_ = true;
      status_ = std::move(status);
    }
    cv_.notify_all();
  }

  // The completion status, or kTimeout if it did not come within `timeout`.
  Status waitFor(std::chrono::nanoseconds timeout) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, timeout, [this] { return done_; })) {
      return Status(ErrorCode::kTimeout, "no acknowledgement within the peer timeout");
    }
    return status_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  Status status_;
};

}  // namespace tandem::replication
