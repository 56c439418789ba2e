// The tandem-disk-fuse process of one attachment, seen from the manager: is it running,
// stopping it, waiting for its status. Reads /proc (root injectable); thread-safe.
#pragma once

#include <chrono>
#include <string>

#include "tandem/attach/attachment_files.h"
#include "tandem/common/status.h"

namespace tandem::attach {

// The pid in <dir>/pid when that process is alive and is the server of `dir` (its command line
// holds "--dir <dir>", which guards against a reused pid); 0 otherwise.
int runningServerPid(const std::string& dir, const std::string& proc_root);

// Waits until process `pid` has exited (any process, not only children: pidfd). kTimeout.
Status waitForExit(int pid, std::chrono::milliseconds timeout);

// SIGTERM, repeated, until the process exits or `timeout` passes (kTimeout). The server only
// exits once its FUSE file is no longer held (the loop device detached).
Status stopServer(int pid, std::chrono::milliseconds timeout);

// Waits (inotify on `dir`) until <dir>/status reports `generation` connected. kUnavailable with
// the last reported error when `timeout` passes.
Status waitForConnected(const std::string& dir, uint64_t generation, std::chrono::milliseconds timeout);

}  // namespace tandem::attach
