// ConfigWriter: puts one volume's .res file in place, only when drbdadm accepts it.
//
// write(spec) renders the spec (resource_spec.h); when the text equals the live file it does
// nothing. Otherwise it writes `<dir>/.<resource>.res.tmp` (fsync), then runs the real drbdadm
// parser once per host, acting as that host:
//   env __DRBD_NODE__=<host> DRBD_DRIVER_VERSION_OVERRIDE=<v> drbdadm -c <config> -t <tmp>
//       [-E <live>] sh-nop
// where <config> includes every `<dir>/*.res` (the temporary name does not match) and -E leaves
// out the live file being replaced, so the new text is checked against every other resource on
// the host (minors, ports). Only when every host passes is the temporary file renamed over
// `<dir>/<resource>.res` and the directory fsynced; on any refusal the temporary file is removed
// and the live file is untouched.
// Errors: kInvalidArgument from renderResource; kInvalidArgument "drbdadm refused ..." with
// drbdadm's stderr (its file:line messages) when the parser refuses; kIo for file errors; the
// runner's error when drbdadm cannot run.
// Thread-safety: one writer per directory; calls for different resources may not overlap.
#pragma once

#include <string>

#include "tandem/common/status.h"
#include "tandem/devices/command_runner.h"
#include "tandem/drbd/resource_spec.h"

namespace tandem::drbd {

struct ConfigWriterOptions {
  std::string res_dir;      // where <resource>.res files live (the node's state directory)
  std::string config_path;  // a drbd.conf that includes "<res_dir>/*.res"; written by ensureConfig()
  std::string drbdadm = "drbdadm";
  std::string driver_version_override = "9.0.0";  // DRBD_DRIVER_VERSION_OVERRIDE: no modinfo probe
};

class ConfigWriter {
 public:
  ConfigWriter(devices::CommandRunner& runner, ConfigWriterOptions options)
      : runner_(runner), options_(std::move(options)) {}

  // Writes options.config_path (`include "<res_dir>/*.res";`) and creates res_dir if missing.
  // On a DRBD host /etc/drbd.d/tandem.res can hold the same include line.
  Status ensureConfig();

  // Result: true when the file changed, false when it already had this text.
  Result<bool> write(const DrbdResourceSpec& spec);

  // Removes <res_dir>/<resource>.res (no error when absent).
  Status remove(const std::string& resource);

  std::string livePath(const std::string& resource) const;

 private:
  Status validateFile(const DrbdResourceSpec& spec, const std::string& candidate);

  devices::CommandRunner& runner_;
  ConfigWriterOptions options_;
};

// The argv that runs drbdadm acting as `host` (through env(1), so the runner needs no environment),
// with `extra_env` (KEY=VALUE) set too.
std::vector<std::string> drbdadmAs(const std::string& host, const std::string& drbdadm,
                                   const std::string& driver_version_override, std::vector<std::string> args,
                                   const std::vector<std::string>& extra_env = {});

}  // namespace tandem::drbd
