// Running outside programs from e2e tests: a command run to completion with a deadline, and a
// background child whose stdout is read line by line. Children never outlive their owner
// (the destructor kills and reaps). Not thread-safe; one test thread uses each object.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "tandem/common/status.h"

namespace tandem::nbd::e2e {

struct CommandResult {
  int exit_code = -1;   // -1 when killed by a signal or the deadline
  std::string output;   // stdout and stderr, interleaved
};

// The full path of `program` found on PATH, or empty.
std::string findOnPath(const std::string& program);

// Runs argv[0] (looked up on PATH) with stdout+stderr captured in a file under `scratch_dir`.
// Kills it after `timeout` (exit_code -1, output ends with a note).
Result<CommandResult> runCommand(const std::vector<std::string>& argv, const std::string& scratch_dir,
                                 std::chrono::milliseconds timeout = std::chrono::seconds(60));

class BackgroundProcess {
 public:
  static Result<std::unique_ptr<BackgroundProcess>> start(const std::vector<std::string>& argv);
  ~BackgroundProcess();

  // Reads stdout lines until one starts with `prefix`; returns that line (without newline).
  Result<std::string> waitForLine(const std::string& prefix, std::chrono::milliseconds timeout);
  // Sends `signal` and waits for the exit; returns the exit code (-1 when killed by a signal).
  Result<int> stop(int signal, std::chrono::milliseconds timeout);

 private:
  BackgroundProcess(pid_t pid, int stdout_fd) : pid_(pid), stdout_fd_(stdout_fd) {}
  pid_t pid_;
  int stdout_fd_;
  std::string buffered_;
};

}  // namespace tandem::nbd::e2e
