// The copy loops of the volume data routes, over a VolumePort and plain callbacks (no HTTP).
// Thread-safety: each call runs on the caller's thread; the port is the caller's.
#pragma once

#include <cstdint>
#include <functional>
#include <span>

#include "tandem/common/status.h"
#include "tandem/controller/byte_range.h"
#include "tandem/controller/volume_port.h"

namespace tandem::controller {

// Sends the bytes of `range` of the volume to `sink`, in order, in pieces. Holes (the port's
// extents) are sent as zeroes without being read; allocated extents are read. A sink or port
// error stops the copy and is returned.
using ByteSink = std::function<Status(std::span<const std::byte>)>;
Status copyOut(VolumePort& port, ByteRange range, const ByteSink& sink);

// Writes `range` of the volume from `source` (which returns how many bytes it put in the span,
// 0 at its end). Blocks of zeroes (4 KiB granularity) are not written where the volume already
// has a hole and are zero requests (NBD WRITE_ZEROES) elsewhere, so a thin volume stays thin;
// the rest are writes; then the port is flushed. A source that ends early is kInvalidArgument
// (reason body_too_short: how many bytes of how many arrived); one that has more is
// kTooLarge (reason body_exceeds_volume), nothing past the range written.
using ByteSource = std::function<Result<size_t>(std::span<std::byte>)>;
struct CopyInStats {
  uint64_t bytes = 0;         // bytes taken from the source
  uint64_t zero_bytes = 0;    // of which zero blocks (zero requests, or nothing over holes)
};
Result<CopyInStats> copyIn(const ByteSource& source, VolumePort& port, ByteRange range);

}  // namespace tandem::controller
