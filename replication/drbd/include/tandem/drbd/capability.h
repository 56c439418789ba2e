// Whether this host can run the DRBD engine: the DRBD 9 kernel module loaded and drbd-utils
// installed. The node worker reports it so the controller places drbd volumes only where it holds.
//
// The kernel version comes from /proc/drbd ("version: 9.2.8 (api:2/proto:86-122)") and, when that
// file is missing, from `drbdadm --version` (DRBD_KERNEL_VERSION; 0 without the module); the
// utils version from `drbdadm --version` (DRBDADM_VERSION). Pure parsers plus one probe over
// injected inputs. Thread-safety: functions of their arguments.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "tandem/devices/command_runner.h"
#include "tandem/nodeapi/messages.h"

namespace tandem::drbd {

struct DrbdCapability {
  std::string kernel_version;  // "9.2.8"; "" when no module is loaded
  std::string utils_version;   // "9.22.0"; "" when drbdadm is missing
  std::string missing;         // why the engine cannot run here; "" when it can
  bool usable() const { return missing.empty(); }
  bool operator==(const DrbdCapability&) const = default;
};

// "9.2.8" from /proc/drbd's first line; "" when the text has no "version: " line.
std::string parseProcDrbdVersion(std::string_view proc_drbd);

// The value of KEY= in `drbdadm --version` output ("" when absent). Values are shell-quoted by
// drbdadm; the versions Tandem reads hold no quoting.
std::string drbdadmVersionField(std::string_view output, std::string_view key);

// What `drbdadm --version` says (run once; the utils do not change while the node runs).
struct DrbdUtils {
  std::string utils_version;   // DRBDADM_VERSION; "" when drbdadm is missing or failed
  std::string kernel_version;  // DRBD_KERNEL_VERSION unless "0"
  std::string failure;         // why drbdadm --version gave nothing ("" when it ran)
};
DrbdUtils probeDrbdUtils(devices::CommandRunner& runner);

// The capability from the utils' answer and `proc_drbd` (the contents of /proc/drbd, or nullopt
// when it does not exist); /proc/drbd's version wins over the utils' idea of the kernel's.
DrbdCapability assessDrbd(const DrbdUtils& utils, const std::optional<std::string>& proc_drbd);

// assessDrbd(probeDrbdUtils(runner), proc_drbd).
DrbdCapability probeDrbd(devices::CommandRunner& runner, const std::optional<std::string>& proc_drbd);

// The capability as the node's status report carries it (loaded, version, reason).
nodeapi::DrbdCapabilityReport capabilityReport(const DrbdCapability& capability);

}  // namespace tandem::drbd
