// Delta status reports (messages.h, StatusReport): what changed between two full reports, and
// the full report a delta describes. Pure functions, thread-safe.
#pragma once

#include "tandem/nodeapi/messages.h"

namespace tandem::nodeapi {

// The delta from full report `base` to full report `current`: every field of `current` except
// `replicas`, which holds only the replicas of `current` that are new or differ from `base`'s
// (by volume uuid), and `removed_replicas`, the volume uuids of `base` absent from `current`.
// report_seq and base_seq are left for the caller to set.
StatusReport reportDelta(const StatusReport& base, const StatusReport& current);

// `base` (a full report) with `delta` applied: the result equals the `current` the delta was
// made from, up to the order of the replicas (kept ones stay in place, new ones go last).
StatusReport applyReportDelta(const StatusReport& base, const StatusReport& delta);

}  // namespace tandem::nodeapi
