#include "tandem/drbd/events2_watcher.h"

namespace tandem::drbd {

Events2Watcher::Events2Watcher(LineProcessRunner& runner, Events2WatcherOptions options)
    : runner_(runner), options_(std::move(options)) {}

Events2Watcher::~Events2Watcher() { stop(); }

void Events2Watcher::start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this] { run(); });
}

void Events2Watcher::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    if (stream_) stream_->terminate();
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Events2Snapshot Events2Watcher::snapshot() const {
  std::lock_guard lock(mu_);
  return published_;
}

bool Events2Watcher::waitUntil(const std::function<bool(const Events2Snapshot&)>& pred,
                               std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  return changed_.wait_for(lock, timeout, [&] { return pred(published_); });
}

void Events2Watcher::log(const std::string& message) {
  if (options_.log) options_.log(message);
}

void Events2Watcher::run() {
  while (true) {
    runOnce();
    std::unique_lock lock(mu_);
    if (stopping_) return;
    changed_.wait_for(lock, options_.restart_delay, [&] { return stopping_; });
    if (stopping_) return;
  }
}

void Events2Watcher::runOnce() {
  auto started = runner_.start(options_.argv);
  const std::string start_error = started.isOk() ? "" : started.status().toString();
  {
    std::lock_guard lock(mu_);
    published_.starts++;
    if (!started.isOk()) {
      published_.live = false;
      published_.last_error = start_error;
    } else {
      stream_ = std::move(started).value();
      if (stopping_) stream_->terminate();
    }
  }
  changed_.notify_all();
  if (!started.isOk()) {
    log("drbd events2: " + start_error + "; retrying");
    return;
  }
  LineStream* stream = nullptr;
  {
    std::lock_guard lock(mu_);
    stream = stream_.get();
  }
  Events2State dump;  // the initial dump, published once complete
  bool dumped = false;
  std::string ended = "the events2 stream ended";
  while (true) {
    auto line = stream->readLine();
    if (!line.isOk()) {
      ended = line.status().toString();
      break;
    }
    if (!line->has_value()) break;
    if ((*line)->empty()) continue;
    auto event = parseEvents2Line(**line);
    Status applied = event.isOk() ? Status::ok() : event.status();
    {
      std::lock_guard lock(mu_);
      if (applied.isOk()) applied = dumped ? published_.state.apply(*event) : dump.apply(*event);
      if (!applied.isOk()) {
        published_.bad_lines++;
      } else if (!dumped && dump.initialDumpDone()) {
        dumped = true;
        published_.state = std::move(dump);
        published_.live = true;
      }
    }
    if (!applied.isOk()) log("drbd events2: skipped a line: " + applied.toString());
    changed_.notify_all();
  }
  {
    std::lock_guard lock(mu_);
    published_.live = false;
    published_.last_error = ended;
    stream_.reset();
  }
  changed_.notify_all();
  log("drbd events2: " + ended + "; restarting");
}

}  // namespace tandem::drbd
