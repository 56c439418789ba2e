// RecordingCommandRunner: a CommandRunner that runs nothing. It appends every argv it is asked
// to run to a file, one command per line (arguments separated by tabs; a tab, newline or
// backslash inside an argument is written as \t, \n, \\), and answers exit 0 with no output.
// tandem-node uses it with --drbd-command-runner=record:<file> so that the whole drbd node flow
// runs on a host without the DRBD kernel module, and a test reads back the exact commands.
// Never for production: nothing happens to the kernel. Thread-safe (one mutex).
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include "tandem/devices/command_runner.h"

namespace tandem::drbd {

class RecordingCommandRunner final : public devices::CommandRunner {
 public:
  explicit RecordingCommandRunner(std::string path) : path_(std::move(path)) {}
  // kIo when the file cannot be appended to (the command counts as failed).
  Result<devices::CommandOutput> run(const std::vector<std::string>& argv) override;

  // The line run() writes for `argv` (without the newline).
  static std::string encode(const std::vector<std::string>& argv);

 private:
  std::mutex mu_;
  std::string path_;
};

}  // namespace tandem::drbd
