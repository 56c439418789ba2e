// CommandRunner: runs an outside tool (lvcreate, zfs, drbdadm...) and captures what it says.
//
// It is the seam that lets tests check the exact command lines a provider or engine runs
// without the tools being installed: production code gets a SubprocessCommandRunner, tests a
// fake that records argv and replays canned outputs.
//
// Contract:
// - argv[0] is the program, looked up in PATH (execvp); the arguments are passed as they are,
//   never through a shell, so no quoting or injection is possible.
// - run() succeeds whenever the program ran, whatever its exit code: a non-zero exit is the
//   caller's to judge (CommandOutput::exit_code), so it can keep the tool's stderr in its error.
// - run() fails with kInvalidArgument (empty argv), kNotFound (program not found, e.g. ENOENT
//   from execvp), kTimeout (deadline passed; the child is killed with SIGKILL and reaped) or
//   kIo (fork/pipe failures). Messages name the command line.
// - Thread-safety: implementations are thread-safe; several commands may run at once.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tandem/common/status.h"

namespace tandem::devices {

struct CommandOutput {
  int exit_code = 0;        // the exit status; 128+N when killed by signal N
  std::string stdout_text;  // everything the program wrote to stdout
  std::string stderr_text;  // everything the program wrote to stderr
};

class CommandRunner {
 public:
  virtual ~CommandRunner() = default;
  virtual Result<CommandOutput> run(const std::vector<std::string>& argv) = 0;
};

// Runs commands with fork/execvp. stdin is /dev/null; stdout and stderr are captured through
// pipes (read concurrently, so a chatty tool cannot block); the child gets its own process group
// and is killed (SIGKILL to the group) when `timeout` passes. Environment: inherited, plus
// LC_ALL=C so tools print untranslated messages that callers may match.
class SubprocessCommandRunner final : public CommandRunner {
 public:
  explicit SubprocessCommandRunner(std::chrono::milliseconds timeout = std::chrono::minutes(5))
      : timeout_(timeout) {}
  Result<CommandOutput> run(const std::vector<std::string>& argv) override;

 private:
  std::chrono::milliseconds timeout_;
};

// "lvcreate -V 1048576b -T vg/pool": argv joined by spaces for messages and logs; arguments with
// spaces or that are empty are single-quoted.
std::string formatCommandLine(const std::vector<std::string>& argv);

// The status for a command that exited non-zero: the command line, its exit code and its stderr
// (trimmed). `code` is the caller's classification (see classifyToolError).
Status commandFailed(ErrorCode code, const std::vector<std::string>& argv, const CommandOutput& out);

// Guesses an ErrorCode from a storage tool's stderr (LVM, ZFS; LC_ALL=C wording):
// "already exists" -> kAlreadyExists; "not found", "does not exist", "Failed to find" ->
// kNotFound; "Insufficient free space", "out of space", "No space left" -> kNoSpace;
// "busy", "in use", "dependent clones", "has children" -> kConflict; anything else kIo.
ErrorCode classifyToolError(std::string_view stderr_text);

// Runs argv; a runner failure gets the command line as context, and a non-zero exit becomes
// commandFailed(classifyToolError(stderr), argv, output).
Result<CommandOutput> runChecked(CommandRunner& runner, const std::vector<std::string>& argv);

}  // namespace tandem::devices
