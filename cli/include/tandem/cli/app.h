// The `tandem` program as a function: arguments in, text and an exit code out, with the
// environment, files and the connection to the controller injected (tests run it without a
// process or, with makeHttpsTransport, against a real server). Not thread-safe.
#pragma once

#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "tandem/cli/api_transport.h"
#include "tandem/cli/settings.h"
#include "tandem/common/clock.h"

namespace tandem::cli {

// Exit codes of `tandem`.
enum class ExitCode : int {
  kOk = 0,
  kApiError = 1,     // the server answered with an error (or something unreadable)
  kUsage = 2,        // bad command line or settings
  kConnection = 3,   // the server could not be reached
};

using TransportFactory = std::function<Result<std::unique_ptr<ApiTransport>>(const Settings&)>;

struct CliContext {
  EnvLookup env = processEnvironment();
  FileReader read_file = realFileReader();
  TransportFactory connect;  // default (empty): makeHttpsTransport with a 30 s timeout
  bool err_is_terminal = false;  // volume export/import draw a progress bar on `err` when true
  const Clock* clock = nullptr;  // default: the real clock (transfer rates and durations)
};

// Runs one command (`args` without the program name). Results go to `out`; errors, as
// "error: ..." lines, to `err`.
ExitCode runCli(const std::vector<std::string>& args, const CliContext& context, std::ostream& out,
                std::ostream& err);

}  // namespace tandem::cli
