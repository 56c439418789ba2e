#include "tandem/controller/drbd_snapshot.h"

#include <algorithm>

namespace tandem::controller {
namespace {

bool holds(const ReplicaReport& r, const std::string& snapshot) {
  return std::find(r.snapshots.begin(), r.snapshots.end(), snapshot) != r.snapshots.end();
}

}  // namespace

std::string_view name(SnapshotPhase phase) {
  switch (phase) {
    case SnapshotPhase::kSuspend: return "suspend";
    case SnapshotPhase::kTake: return "take";
    case SnapshotPhase::kResume: return "resume";
  }
  return "suspend";
}

DrbdSnapshotStep nextDrbdSnapshotStep(const SnapshotRecord& snapshot,
                                      const std::vector<std::pair<std::string, const ReplicaReport*>>& hosts) {
  DrbdSnapshotStep step;
  for (const auto& [node, report] : hosts) {
    if (report == nullptr) continue;
    const auto& failed = report->failed_snapshots;
    if (std::find(failed.begin(), failed.end(), snapshot.uuid) != failed.end()) {
      step.kind = DrbdSnapshotStep::Kind::kFail;
      step.message = "node " + node + " could not " + std::string(name(snapshot.drbd_phase)) +
                     " for it (see its log); every replica resumed I/O";
      return step;
    }
  }
  if (hosts.empty()) return step;
  auto all = [&](auto done) {
    return std::all_of(hosts.begin(), hosts.end(), [&](const auto& h) { return h.second != nullptr && done(*h.second); });
  };
  const std::string& s = snapshot.uuid;
  switch (snapshot.drbd_phase) {
    case SnapshotPhase::kSuspend:
      if (all([&](const ReplicaReport& r) { return r.suspended_for == s; })) {
        step.kind = DrbdSnapshotStep::Kind::kAdvance;
        step.phase = SnapshotPhase::kTake;
      }
      break;
    case SnapshotPhase::kTake:
      if (all([&](const ReplicaReport& r) { return r.suspended_for == s && holds(r, s); })) {
        step.kind = DrbdSnapshotStep::Kind::kAdvance;
        step.phase = SnapshotPhase::kResume;
      }
      break;
    case SnapshotPhase::kResume:
      if (all([&](const ReplicaReport& r) { return r.suspended_for != s && holds(r, s); })) {
        step.kind = DrbdSnapshotStep::Kind::kAvailable;
      }
      break;
  }
  return step;
}

}  // namespace tandem::controller
