// DrbdLifecycle: the drbdadm/drbdsetup/drbdmeta command sequences that make one host's side of a
// DRBD resource real, run through the injected CommandRunner. Every failure keeps the tool's
// command line, exit code and stderr (devices::commandFailed).
//
// Sequences (each a method; tests check the exact argv lists):
// - create:      write .res (ConfigWriter) → drbdmeta create-md <max-peers> (diskful hosts) → adjust
// - diskless client / tie-breaker: write .res (this host `disk none`) → adjust
// - skip the initial sync: new-current-uuid --clear-bitmap <res>/0, only when
//   checkInitialSyncSkippable() allows it (see there)
// - primary:     drbdadm primary [--force] (force only for the first writer of a fresh volume)
// - resize:      drbdadm resize <res>/0 after the backing device grew on every diskful host
// - add peer:    write .res with the peer → adjust (new-peer/new-path/connect)
// - remove peer: disconnect, del-peer, forget-peer (its node-id's bitmap slot is freed for reuse)
//   while the old .res still names it → write .res without it → adjust
// - delete:      down → drbdmeta wipe-md (diskful) → remove .res
// - snapshot:    drbdsetup suspend-io <minor> → the provider's snapshot → drbdsetup resume-io
//   (resume runs even when the snapshot failed)
// Thread-safety: calls for one resource must not overlap.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "tandem/common/status.h"
#include "tandem/devices/command_runner.h"
#include "tandem/drbd/config_writer.h"
#include "tandem/drbd/events2.h"
#include "tandem/drbd/resource_spec.h"

namespace tandem::drbd {

struct DrbdToolOptions {
  std::string drbdadm = "drbdadm";
  std::string drbdsetup = "drbdsetup";
  std::string drbdmeta = "drbdmeta";
  std::string config_path;  // drbdadm -c <config_path>; "" for drbdadm's default /etc/drbd.conf
  // Tests and offline checks only: run drbdadm as `env __DRBD_NODE__=<host>
  // DRBD_DRIVER_VERSION_OVERRIDE=9.0.0 drbdadm -d ...` (prints the drbdsetup/drbdmeta commands
  // instead of running them). Empty on a real host.
  std::string dry_run_as_host;
  // With dry_run_as_host: more environment for drbdadm, e.g. FAKE_DRBDSETUP_SHOW=<file> (a
  // recorded `drbdsetup show` that `adjust` diffs against instead of the kernel's state).
  std::vector<std::string> dry_run_env{};
};

// What is known about a volume when deciding whether its initial full sync can be skipped.
struct InitialSyncFacts {
  bool backing_fresh_thin = false;       // every diskful backing device is a thin volume made for it
  bool metadata_just_created = false;    // every diskful host's current UUID is "just created" (get-gi)
  bool ever_primary = false;             // the resource has been primary somewhere (data written)
  size_t diskful = 0;                    // diskful hosts of the resource
  size_t diskful_connected = 0;          // of which connected to this host (this host counts)
};

// The rule: skipping the sync is safe only when every copy is provably identical and stays so:
// all diskful backing devices are fresh thin volumes (they read as zeros everywhere), their
// metadata has no history (just created: no copy has a generation another lacks), nothing was
// ever written (never primary), and every diskful host is connected now (each receives the new
// current UUID with a cleared bitmap; a host that joins later syncs fully as usual).
// OK, or kConflict (reason "initial_sync_required") naming the first unmet condition.
Status checkInitialSyncSkippable(const InitialSyncFacts& facts);

class DrbdLifecycle {
 public:
  DrbdLifecycle(devices::CommandRunner& runner, ConfigWriter& writer, DrbdToolOptions options)
      : runner_(runner), writer_(writer), options_(std::move(options)) {}

  // `self` is this host's name in spec.hosts (kInvalidArgument when absent).
  Status create(const DrbdResourceSpec& spec, const std::string& self);
  Status adjust(const std::string& resource);
  Status skipInitialSync(const std::string& resource, const InitialSyncFacts& facts);
  Status promote(const std::string& resource, bool force);
  Status demote(const std::string& resource);
  Status resize(const std::string& resource);
  // `spec` is the new configuration (with the peer).
  Status addPeer(const DrbdResourceSpec& spec);
  // `old_spec` still names `peer`; the new configuration is old_spec without it.
  Status removePeer(const DrbdResourceSpec& old_spec, const std::string& peer);
  Status remove(const DrbdResourceSpec& spec, const std::string& self);
  // `drbdsetup suspend-io <minor>` / `drbdsetup resume-io <minor>`: new I/O on the device is held
  // (not failed) until resumed. The cluster-wide snapshot's steps (drbd_suspensions.h).
  Status suspendIo(uint32_t minor);
  Status resumeIo(uint32_t minor);
  // Runs take_snapshot while DRBD I/O on the volume is suspended; returns its status (or the
  // suspend/resume failure).
  Status snapshotWithSuspendedIo(uint32_t minor, const std::function<Status()>& take_snapshot);
  // The resource's state now, with its statistics: `drbdsetup events2 --now --statistics
  // <resource>` folded (the events2 stream prints counters only with state changes, so a drain
  // check reads them fresh). kNotFound when the dump does not show the resource; the tool's
  // failure; kProtocol for a dump that does not parse.
  Result<DrbdResourceState> currentState(const std::string& resource);

  // Whether drbdmeta reports the backing device's metadata as just created (current UUID 0x4,
  // nothing written since create-md).
  Result<bool> metadataJustCreated(uint32_t minor, const std::string& backing_device);

 private:
  Result<devices::CommandOutput> drbdadm(std::vector<std::string> args);
  Result<devices::CommandOutput> tool(const std::string& program, std::vector<std::string> args);
  std::vector<std::string> drbdmetaArgs(uint32_t minor, const std::string& backing,
                                        std::vector<std::string> command) const;

  devices::CommandRunner& runner_;
  ConfigWriter& writer_;
  DrbdToolOptions options_;
};

}  // namespace tandem::drbd
