// DrbdVolumes: the node worker's drbd engine (docs/drbd.md). Makes this host's side of every
// drbd-engine volume in the desired state real through DrbdLifecycle (drbdadm/drbdsetup/drbdmeta
// via the injected command runner) and reports it through the same ReplicaReport the native
// engine sends, from the events2 state.
//
// apply() is level-triggered, like the Reconciler that calls it:
// - a replica (DesiredReplica with `drbd`) not held yet: its backing volume is made in its pool
//   (named by the volume uuid; kept when it exists), then create (write .res, create-md on the
//   fresh backing, adjust). The primary of a new volume then skips the initial sync when
//   checkInitialSyncSkippable allows it (fresh thin backing made here, metadata just created,
//   never primary, every diskful host connected in the events2 state) and otherwise becomes
//   primary with --force (first writer; DRBD then syncs its peers fully);
// - a held replica whose resource changed: peers gone from it are removed one by one
//   (disconnect, del-peer, forget-peer, rewrite, adjust), then the new configuration is written
//   and adjusted (new peers added); a larger size grows the backing volume, then `drbdadm resize`
//   (on every diskful host: DRBD grows to the smallest backing device, so the last one to grow
//   brings the volume to its full size);
// - a diskless replica (this host `diskful: false` in the resource: a two-replica volume's
//   tie-breaker, or the client the controller placed for an attachment): write .res, adjust;
// - a block attachment (DesiredAttachment with `drbd`) on a host holding no replica: this host
//   must be a diskless host of the resource; it is created diskless (write .res, adjust). Its
//   device is /dev/drbd/by-res/<resource>/0 (also where a host with a replica attaches);
// - an nbd attachment (`drbd` and `nbd`): the same, and the device is exported over the node's
//   NBD server as the attachment's nbd_export through DeviceExports (opened only while an NBD
//   client is connected). The export goes (its clients disconnected) when the attachment goes,
//   before the resource is taken down;
// - the volume's primary (a diskful replica with `primary`) exports its device under the
//   volume's name the same way, so the volume's data can be streamed (GET/PUT .../data) through
//   it; idle, the export holds nothing open, so it never keeps this host Primary;
// - snapshots (a diskful replica): those in `snapshots` no longer desired are removed from the
//   pool. The cluster-wide snapshot `drbd_snapshot` goes through the controller's phases
//   (tandem/controller/drbd_snapshot.h) with DrbdSuspensions: `suspend` suspends DRBD I/O for it
//   (the primary at once, a secondary only while events2 shows its disk UpToDate) and reports
//   `suspended_for` once drained: events2 shows nothing in flight on the volume (drbd::inFlight:
//   the device's upper/lower-pending, each peer's pending, unacked and ap-in-flight all 0; until
//   then I/O stays suspended, not reported, and `take` waits; once its copy is held it stays
//   reported); `take` takes the provider snapshot while still suspended (not suspended for
//   it any more: it failed here); `resume` resumes. A suspension for any other snapshot, or with
//   none desired (the controller failed it), is resumed. A failure at any step (suspend-io, the
//   provider snapshot), a suspension past the local deadline (enforceDeadlines) and one a previous
//   run left (recovered at construction) resume I/O and report the snapshot failed
//   (failed_snapshots), never retried. Held snapshots are reported in `snapshots`;
// - everything held and no longer desired: down, wipe-md (diskful), .res removed, the backing
//   volume's snapshots and then the backing volume deleted.
// A peer's `disk` line in the .res is informational for this host (drbdadm applies only its own
// host's section): peers get the same backing path as this host, or /dev/tandem-peer/<uuid>.
//
// What it holds lives in memory: after a restart a held resource is adopted again by the next
// apply (create-md is skipped when the backing volume exists; adjust brings the kernel in line).
// Thread-safety: apply() and the report methods may be called from different threads.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "tandem/common/status.h"
#include "tandem/drbd/events2.h"
#include "tandem/drbd/lifecycle.h"
#include "tandem/drbd/resource_spec.h"
#include "tandem/common/clock.h"
#include "tandem/node/device_exports.h"
#include "tandem/node/drbd_suspensions.h"
#include "tandem/node/reconciler.h"
#include "tandem/nodeapi/messages.h"

namespace tandem::node {

struct DrbdVolumesOptions {
  std::string self;  // this host's name in the resources (the node's name)
  // udev's stable links: <dir>/<resource>/0 (tandem-node --drbd-device-dir; tests point it at
  // regular files standing in for the devices)
  std::string by_res_dir = "/dev/drbd/by-res";
  // Markers of DRBD I/O suspensions, so a restarted worker resumes them ("": none kept).
  std::string suspend_dir{};
  // The longest this host keeps DRBD I/O suspended for a snapshot without the next phase.
  std::chrono::milliseconds suspend_deadline{10000};
  const Clock* clock = nullptr;  // null: the real clock
  // The state of one resource now, with fresh statistics (DrbdLifecycle::currentState:
  // `drbdsetup events2 --now --statistics <res>`): the drain check before a snapshot reads its
  // in-flight counters there, because the events2 stream prints counters only with a state
  // change (a stale 0 would read as drained). An error counts as not drained. Empty: the
  // stream's state (tests that script only the stream).
  std::function<Result<drbd::DrbdResourceState>(const std::string& resource)> current_state{};
};

class DrbdVolumes {
 public:
  // `state` returns the latest events2 state (Events2Watcher::snapshot().state); an empty
  // function means none is known (every connection counts as down, reports say "not running").
  DrbdVolumes(DrbdVolumesOptions options, std::map<std::string, Pool>& pools, drbd::DrbdLifecycle& lifecycle,
              std::function<drbd::Events2State()> state);

  // Resumes every DRBD I/O suspension held longer than the local deadline (their snapshots are
  // then reported failed). The node worker calls it periodically; apply() does too.
  void enforceDeadlines();

  // Where nbd attachments are exported (the node's NBD server). Without it (null, the default)
  // an nbd attachment is reported broken, saying so.
  void setExports(DeviceExports* exports) { exports_ = exports; }

  // Applies the drbd replicas and drbd attachments among `replicas`/`attachments` (the others
  // are ignored). Per-volume failures do not stop the others; they are kept for the reports.
  // Returns the first failure, or OK.
  Status apply(const std::vector<nodeapi::DesiredReplica>& replicas,
               const std::vector<nodeapi::DesiredAttachment>& attachments);

  // The volume uuids whose backing volume this engine owns (so the native side leaves them alone).
  std::set<std::string> held() const;

  // One report per held replica: its events2 state mapped by drbdReplicaReport, with the last
  // apply error if any (and replicas that failed before being held: disk failed, the error).
  std::vector<nodeapi::ReplicaReport> replicaReports() const;
  // One report per drbd attachment: the by-res path, healthy once the resource runs here.
  std::vector<nodeapi::AttachmentReport> attachmentReports() const;

 private:
  // The .res spec of a desired resource as this host writes it (own_backing: this host's backing
  // device, "" when it is diskless).
  drbd::DrbdResourceSpec specFor(const nodeapi::DesiredDrbd& d, const std::string& volume_uuid,
                                 const std::string& own_backing) const;
  struct Held {
    drbd::DrbdResourceSpec spec;
    std::string pool;       // "" for a diskless host
    uint64_t size_bytes = 0;
    bool attachment = false;  // a block attachment uses it here
    bool replica = false;     // this host holds a replica (diskful) of it
    std::string nbd_export;   // exported over NBD under this name ("" when not exported)
  };
  // The device path of `resource` on this host.
  std::string devicePath(const std::string& resource) const;
  // Exports the held resources that have a desired nbd attachment, or whose diskful replica here
  // is the volume's primary, and unexports the others.
  void reconcileExports(const std::vector<nodeapi::DesiredReplica>& replicas,
                        const std::vector<nodeapi::DesiredAttachment>& attachments);
  // Removes h's export, if any (its NBD clients are disconnected, so the device is closed).
  void unexport(Held& h);
  Status ensureReplica(const nodeapi::DesiredReplica& d);
  Status ensureClient(const nodeapi::DesiredAttachment& a);
  // This host diskless in the resource: create it (write .res, adjust) or change it. `replica`:
  // the controller placed it as a (diskless) replica, reported like one.
  Status ensureDiskless(const std::string& uuid, const nodeapi::DesiredDrbd& d, uint64_t size_bytes, bool replica);
  Status change(Held& held, const drbd::DrbdResourceSpec& want);
  Status removeHeld(const std::string& uuid, Held& held);
  // Removes the snapshots of d not in d.snapshots and goes through d.drbd_snapshot's phase.
  Status reconcileSnapshots(devices::StorageProvider& provider, const nodeapi::DesiredReplica& d,
                            const drbd::DrbdResourceSpec& spec);
  // Marks the ended suspensions' snapshots failed here.
  void failEnded(const std::vector<SuspensionEnded>& ended);
  // suspensions_.expire(), logging what was still in flight on those that never drained.
  std::vector<SuspensionEnded> expireSuspensions();
  // What `resource` still has in flight here (drbd::inFlight of options_.current_state, else of
  // the events2 stream): "" once drained; not "" when the state cannot be read or shows nothing
  // of it (unknown counts as not drained).
  std::string inFlightHere(const std::string& resource) const;
  // Whether events2 shows this host's disk of `resource` UpToDate.
  bool upToDateHere(const std::string& resource) const;
  // How many diskful hosts of `spec` are connected to this one (this one counts), by events2.
  size_t diskfulConnected(const drbd::DrbdResourceSpec& spec) const;

  DrbdVolumesOptions options_;
  std::map<std::string, Pool>& pools_;
  drbd::DrbdLifecycle& lifecycle_;
  std::function<drbd::Events2State()> state_;
  DeviceExports* exports_ = nullptr;
  DrbdSuspensions suspensions_;  // guarded by mu_

  mutable std::mutex mu_;
  std::map<std::string, Held> held_;             // by volume uuid
  std::map<std::string, std::string> errors_;    // by volume uuid
  std::map<std::string, std::string> attach_errors_;  // by volume uuid
  std::map<std::string, std::set<std::string>> failed_snapshots_;  // by volume uuid
};

}  // namespace tandem::node
