// The cluster-wide snapshot of a drbd volume (docs/drbd.md, Snapshots), the way LINSTOR takes
// one: the controller drives each snapshot through phases in the desired state of every diskful
// replica, and advances a phase only when every diskful replica's report shows it done:
//   suspend: each suspends DRBD I/O for S and reports `suspended_for: S`;
//   take:    every one has suspended, so each takes the provider snapshot (reports S held);
//   resume:  every one holds it, so each resumes I/O; once none reports `suspended_for: S`, S is
//            available.
// Every copy is then of the same point of the write stream: no replica wrote anything between
// the first suspend and the last snapshot. A replica that fails a step (failed_snapshots), or
// one that resumed on its own (its local deadline, a restart: it reports S failed), fails S:
// S becomes `error`, leaves the desired state, and every replica resumes and drops its copy.
// The controller's timeout (tick) fails a snapshot that does not finish in time the same way.
// Pure: no store, no clock.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "tandem/controller/observed_state.h"
#include "tandem/controller/records.h"

namespace tandem::controller {

struct DrbdSnapshotStep {
  enum class Kind {
    kWait,       // not every diskful replica is there yet
    kAdvance,    // go to `phase`
    kAvailable,  // done everywhere: the snapshot is available
    kFail,       // a replica failed it: the snapshot is an error (`message` says who)
  };
  Kind kind = Kind::kWait;
  SnapshotPhase phase = SnapshotPhase::kSuspend;
  std::string message;
};

// The next step for `snapshot` (kCreating) of a drbd volume; `hosts` are its diskful replicas'
// nodes, each with its last replica report of the volume (null: offline or not reported).
DrbdSnapshotStep nextDrbdSnapshotStep(const SnapshotRecord& snapshot,
                                      const std::vector<std::pair<std::string, const ReplicaReport*>>& hosts);

// The phase's wire name (suspend, take, resume), for messages.
std::string_view name(SnapshotPhase phase);

}  // namespace tandem::controller
