#include "tandem/config/daemon.h"

#include <pthread.h>

#include "tandem/common/log.h"

namespace tandem::config {

OptionSpec logLevelOption() { return {"log-level", OptionType::kString, "info", "debug, info, warn or error"}; }

Status applyLogLevel(const Options& options) {
  log::Level level;
  if (!log::parseLevel(options.string("log-level"), &level)) {
    return Status(ErrorCode::kInvalidArgument,
                  "option 'log-level': '" + options.string("log-level") + "' is not debug, info, warn or error");
  }
  log::setLevel(level);
  return Status::ok();
}

sigset_t blockStopSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return signals;
}

}  // namespace tandem::config
