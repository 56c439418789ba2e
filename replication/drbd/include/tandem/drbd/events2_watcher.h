// Events2Watcher: keeps this node's view of every DRBD resource current by running
// `drbdsetup events2 --now --statistics` for as long as it lives.
//
// A background thread starts the command (through the injected LineProcessRunner), parses each
// line (events2.h) and folds it into the state. The initial dump (up to `exists -`) builds a fresh
// state that replaces the published one when the dump ends; later lines change it in place. A
// malformed line is counted and logged and the stream goes on. When the stream ends or fails, the
// published state is kept but marked stale, and the command is started again after
// restart_delay (forever, until stop()).
// Thread-safety: every public method may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tandem/drbd/events2.h"
#include "tandem/drbd/line_process.h"

namespace tandem::drbd {

struct Events2WatcherOptions {
  std::vector<std::string> argv{"drbdsetup", "events2", "--now", "--statistics"};
  std::chrono::milliseconds restart_delay{1000};
  std::function<void(const std::string&)> log;  // one message per malformed line or restart; may be empty
};

struct Events2Snapshot {
  Events2State state;       // the last complete view (empty before the first dump ended)
  bool live = false;        // the stream is running and its initial dump is complete
  uint64_t starts = 0;      // how many times the command was started
  uint64_t bad_lines = 0;   // malformed lines skipped
  std::string last_error;   // why the stream last ended ("" before it ever did)
};

class Events2Watcher {
 public:
  Events2Watcher(LineProcessRunner& runner, Events2WatcherOptions options);
  ~Events2Watcher();  // stop()
  Events2Watcher(const Events2Watcher&) = delete;
  Events2Watcher& operator=(const Events2Watcher&) = delete;

  void start();  // starts the background thread (once)
  void stop();   // terminates the stream and joins the thread; idempotent

  Events2Snapshot snapshot() const;
  // Waits until `pred(snapshot)` holds or `timeout` passes; returns whether it held.
  bool waitUntil(const std::function<bool(const Events2Snapshot&)>& pred, std::chrono::milliseconds timeout) const;

 private:
  void run();
  void runOnce();
  void log(const std::string& message);

  LineProcessRunner& runner_;
  Events2WatcherOptions options_;
  mutable std::mutex mu_;
  mutable std::condition_variable changed_;
  Events2Snapshot published_;
  std::unique_ptr<LineStream> stream_;  // guarded by mu_ for terminate() from stop()
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace tandem::drbd
