// Start-up chores shared by Tandem's daemons (tandem-controller, tandem-node).
#pragma once

#include <signal.h>

#include "tandem/common/status.h"
#include "tandem/config/options.h"

namespace tandem::config {

// The option every daemon has: "log-level" (debug, info, warn, error).
OptionSpec logLevelOption();
// Applies the "log-level" option; kInvalidArgument naming the bad value.
Status applyLogLevel(const Options& options);
// Blocks SIGINT and SIGTERM in the calling thread (and so in every thread it starts later, so
// the main thread can take them synchronously with sigwait) and ignores SIGPIPE. Returns the set.
sigset_t blockStopSignals();

}  // namespace tandem::config
