// ScriptedProcesses: a fake LineProcessRunner for the events2 watcher tests.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "tandem/drbd/line_process.h"

namespace tandem::drbd::testing {

// A fake process: each start() plays the next script of lines, then ends (EOF), or, for the
// last script, stays open until terminate().
class ScriptedProcesses final : public LineProcessRunner {
 public:
  explicit ScriptedProcesses(std::vector<std::vector<std::string>> scripts) : scripts_(std::move(scripts)) {}

  Result<std::unique_ptr<LineStream>> start(const std::vector<std::string>& argv) override {
    std::lock_guard lock(mu_);
    argv_ = argv;
    if (next_ >= scripts_.size()) return Status(ErrorCode::kNotFound, "no more scripts");
    bool last = next_ + 1 == scripts_.size();
    return std::unique_ptr<LineStream>(std::make_unique<Stream>(scripts_[next_++], last));
  }
  std::vector<std::string> argv() const {
    std::lock_guard lock(mu_);
    return argv_;
  }

 private:
  class Stream final : public LineStream {
   public:
    Stream(std::vector<std::string> lines, bool stay_open) : lines_(lines.begin(), lines.end()), stay_open_(stay_open) {}
    Result<std::optional<std::string>> readLine() override {
      std::unique_lock lock(mu_);
      if (!lines_.empty()) {
        std::string l = lines_.front();
        lines_.pop_front();
        return std::optional<std::string>(l);
      }
      if (stay_open_) cv_.wait(lock, [&] { return terminated_; });
      return std::optional<std::string>{};
    }
    void terminate() override {
      std::lock_guard lock(mu_);
      terminated_ = true;
      cv_.notify_all();
    }

   private:
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<std::string> lines_;
    bool stay_open_;
    bool terminated_ = false;
  };

  mutable std::mutex mu_;
  std::vector<std::vector<std::string>> scripts_;
  size_t next_ = 0;
  std::vector<std::string> argv_;
};

}  // namespace tandem::drbd::testing
