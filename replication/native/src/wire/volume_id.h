// VolumeId: the 16 raw bytes of a volume's uuid as carried in every frame header.
// Pure functions, thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <string_view>

#include "tandem/common/status.h"

namespace tandem::replication::wire {

using VolumeId = std::array<std::byte, 16>;

// Parses the canonical text form "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (either case);
// kInvalidArgument otherwise.
Result<VolumeId> volumeIdFromUuid(std::string_view text);
// The canonical lower-case text form.
std::string volumeIdToUuid(const VolumeId& id);

}  // namespace tandem::replication::wire
