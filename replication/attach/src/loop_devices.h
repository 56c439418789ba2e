// Loop devices through losetup (util-linux), run through the injected CommandRunner.
// Stateless functions; thread-safe as the runner is.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "tandem/common/status.h"
#include "tandem/devices/command_runner.h"

namespace tandem::attach {

struct LoopDevice {
  std::string device;        // /dev/loopN
  std::string backing_file;  // as the kernel reports it, " (deleted)" removed
  bool direct_io = false;
};

// Parses `losetup --list --json --output NAME,BACK-FILE,DIO`; empty text is an empty list.
Result<std::vector<LoopDevice>> parseLosetupJson(std::string_view json);

Result<std::vector<LoopDevice>> listLoopDevices(devices::CommandRunner& runner);
// Binds `file` to a free loop device; with direct_io, asks for --direct-io=on and retries
// without it when the kernel refuses. Returns /dev/loopN.
Result<std::string> attachLoopDevice(devices::CommandRunner& runner, const std::string& file, bool direct_io);
Status detachLoopDevice(devices::CommandRunner& runner, const std::string& device);

}  // namespace tandem::attach
