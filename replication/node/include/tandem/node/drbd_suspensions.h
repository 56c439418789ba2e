// DrbdSuspensions: this host's DRBD I/O suspensions for cluster-wide snapshots (docs/drbd.md,
// Snapshots), made so that a host never stays suspended:
// - suspend() writes a marker file (<marker_dir>/<volume uuid>: "<minor> <snapshot>", fsynced)
//   BEFORE `drbdsetup suspend-io`, and resume() removes it only AFTER `resume-io` succeeded;
// - recover() (at start) resumes every suspension a previous run of the node worker left behind
//   (its markers) and returns them: those snapshots failed here;
// - expire() resumes every suspension held longer than the local deadline (the controller went
//   silent, or a phase never came) and returns them: those snapshots failed here.
// A failed resume keeps the suspension (and marker) so the next resume() or expire() retries it.
// Not thread-safe: the owner (DrbdVolumes) serialises calls.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tandem/common/clock.h"
#include "tandem/common/status.h"
#include "tandem/drbd/lifecycle.h"

namespace tandem::node {

struct SuspensionEnded {
  std::string volume_uuid;
  std::string snapshot;
};

class DrbdSuspensions {
 public:
  // `marker_dir` "" keeps no markers (nothing survives a restart: tests only).
  DrbdSuspensions(drbd::DrbdLifecycle& lifecycle, std::string marker_dir, std::chrono::milliseconds deadline,
                  const Clock& clock)
      : lifecycle_(lifecycle), marker_dir_(std::move(marker_dir)), deadline_(deadline), clock_(clock) {}

  Status suspend(const std::string& volume_uuid, uint32_t minor, const std::string& snapshot);
  // Resumes the volume's suspension, if any.
  Status resume(const std::string& volume_uuid);
  // The snapshot the volume's I/O is suspended for; "" when it is not suspended.
  std::string suspendedFor(const std::string& volume_uuid) const;
  std::vector<SuspensionEnded> recover();
  std::vector<SuspensionEnded> expire();

 private:
  struct Suspension {
    uint32_t minor = 0;
    std::string snapshot;
    std::chrono::steady_clock::time_point since;
  };
  std::string markerPath(const std::string& volume_uuid) const;

  drbd::DrbdLifecycle& lifecycle_;
  const std::string marker_dir_;
  const std::chrono::milliseconds deadline_;
  const Clock& clock_;
  std::map<std::string, Suspension> suspended_;  // by volume uuid
};

}  // namespace tandem::node
