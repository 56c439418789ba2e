// SerialWorker: one thread that runs posted jobs one after the other, in the order posted. The
// controller answers woken desired-state long-polls on it, so the thread that made a change
// does not build every woken node's state before it can answer its own caller.
// Thread-safe. stop() (and the destructor) runs the jobs already posted, then joins the thread;
// a job posted after stop() runs at once on the posting thread.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace tandem::controller {

class SerialWorker {
 public:
  SerialWorker();
  ~SerialWorker();
  SerialWorker(const SerialWorker&) = delete;
  SerialWorker& operator=(const SerialWorker&) = delete;

  void post(std::function<void()> job);
  void stop();

 private:
  void run();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;  // guarded by mu_
  bool stopping_ = false;                   // guarded by mu_
  std::thread thread_;
};

}  // namespace tandem::controller
