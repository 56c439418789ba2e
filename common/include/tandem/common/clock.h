// Clock: the only way Tandem logic reads time, so tests can control it.
// RealClock is thread-safe. ManualClock is thread-safe; advance() moves both clocks.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace tandem {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::chrono::steady_clock::time_point steadyNow() const = 0;
  // Wall-clock time, for timestamps shown to people and stored in the database.
  virtual std::chrono::system_clock::time_point wallNow() const = 0;
};

class RealClock final : public Clock {
 public:
  std::chrono::steady_clock::time_point steadyNow() const override {
    return std::chrono::steady_clock::now();
  }
  std::chrono::system_clock::time_point wallNow() const override {
    return std::chrono::system_clock::now();
  }
  static RealClock& instance() {
    static RealClock clock;
    return clock;
  }
};

class ManualClock final : public Clock {
 public:
  std::chrono::steady_clock::time_point steadyNow() const override {
    return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(nanos_.load()));
  }
  std::chrono::system_clock::time_point wallNow() const override {
    return std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::nanoseconds(1'700'000'000'000'000'000LL + nanos_.load())));
  }
  void advance(std::chrono::nanoseconds d) { nanos_ += d.count(); }

 private:
  std::atomic<int64_t> nanos_{1'000'000'000};
};

}  // namespace tandem
