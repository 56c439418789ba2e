// LineProcess: a long-running program whose stdout is read line by line (drbdsetup events2).
// The seam lets the events2 watcher be tested with a fake process that emits lines and breaks.
//
// Contract: start() runs argv (no shell) or fails (kNotFound, kIo). readLine() blocks for the next
// line without its newline; nullopt when the stream ended (the program exited or was killed);
// an error for read failures. terminate() may be called from any thread, at any time and more than
// once: it makes a blocked or later readLine() return nullopt soon. The stream's destructor kills
// and reaps the program. Apart from terminate(), one thread uses a stream.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tandem/common/status.h"

namespace tandem::drbd {

class LineStream {
 public:
  virtual ~LineStream() = default;
  virtual Result<std::optional<std::string>> readLine() = 0;
  virtual void terminate() = 0;
};

class LineProcessRunner {
 public:
  virtual ~LineProcessRunner() = default;
  virtual Result<std::unique_ptr<LineStream>> start(const std::vector<std::string>& argv) = 0;
};

// fork/execvp with stdout on a pipe; stdin and stderr are /dev/null; LC_ALL=C.
class SubprocessLineRunner final : public LineProcessRunner {
 public:
  Result<std::unique_ptr<LineStream>> start(const std::vector<std::string>& argv) override;
};

}  // namespace tandem::drbd
