// The revert marker: which revert request (its id) a node has completed on its copy of a volume,
// kept in `<metadata_dir>/<volume uuid>.reverted` so that a restarted node never reverts twice
// for the same request. Written atomically (temporary file, fsync, rename, fsync of the directory).
// Thread-safety: callers serialise per volume (the reconciler does).
#pragma once

#include <string>

#include "tandem/common/status.h"

namespace tandem::node {

// The id of the last completed revert of the volume; empty if there is no marker.
Result<std::string> loadRevertMarker(const std::string& dir, const std::string& volume_uuid);
Status saveRevertMarker(const std::string& dir, const std::string& volume_uuid, const std::string& revert_id);
// OK if there is none.
Status removeRevertMarker(const std::string& dir, const std::string& volume_uuid);

}  // namespace tandem::node
