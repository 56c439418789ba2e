#include "tandem/controller/volume_copy.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace tandem::controller {
namespace {

constexpr uint64_t kPiece = 4ull << 20;          // bytes read or written per port call
constexpr uint64_t kExtentWindow = 256ull << 20;  // bytes described per extents() call
constexpr size_t kZeroBlock = 4096;               // granularity of zero detection on import

// memcmp against a zero block: libc's vectorised compare (a byte loop costs seconds per GiB in
// the sanitised build).
bool allZero(std::span<const std::byte> b) {
  static const std::byte kZeroBlockBytes[kZeroBlock] = {};
  for (size_t done = 0; done < b.size(); done += kZeroBlock) {
    if (std::memcmp(b.data() + done, kZeroBlockBytes, std::min(kZeroBlock, b.size() - done)) != 0) return false;
  }
  return true;
}

}  // namespace

Status copyOut(VolumePort& port, ByteRange range, const ByteSink& sink) {
  static const std::vector<std::byte> kZeroes(kPiece);
  std::vector<std::byte> buffer(kPiece);
  uint64_t at = range.begin;
  while (at < range.end) {
    ASSIGN_OR_RETURN(std::vector<devices::Extent> extents, port.extents(at, std::min(kExtentWindow, range.end - at)));
    if (extents.empty()) return Status(ErrorCode::kInternal, "the volume described no extent");
    for (const devices::Extent& e : extents) {
      for (uint64_t done = 0; done < e.length;) {
        size_t n = static_cast<size_t>(std::min(kPiece, e.length - done));
        if (e.hole) {
          RETURN_IF_ERROR(sink(std::span(kZeroes.data(), n)));
        } else {
          RETURN_IF_ERROR(port.read(at + done, std::span(buffer.data(), n)));
          RETURN_IF_ERROR(sink(std::span(buffer.data(), n)));
        }
        done += n;
      }
      at += e.length;
    }
  }
  return Status::ok();
}

Result<CopyInStats> copyIn(const ByteSource& source, VolumePort& port, ByteRange range) {
  std::vector<std::byte> buffer(kPiece);
  CopyInStats stats;
  uint64_t at = range.begin;
  while (at < range.end) {
    // Fill a whole piece (or the rest of the range) before writing it.
    size_t want = static_cast<size_t>(std::min(kPiece, range.end - at)), have = 0;
    while (have < want) {
      ASSIGN_OR_RETURN(size_t n, source(std::span(buffer.data() + have, want - have)));
      if (n == 0) break;
      have += n;
    }
    stats.bytes += have;
    // Runs of zero / non-zero blocks: zero requests for the former, one write per run of the latter.
    size_t run_start = 0;
    bool run_zero = false;
    auto flushRun = [&](size_t end) -> Status {
      if (end == run_start) return Status::ok();
      if (run_zero) {
        stats.zero_bytes += end - run_start;
        // Holes already read as zeroes: only allocated parts are zeroed (a thin volume stays thin).
        ASSIGN_OR_RETURN(std::vector<devices::Extent> extents, port.extents(at + run_start, end - run_start));
        uint64_t off = at + run_start;
        for (const devices::Extent& e : extents) {
          if (!e.hole) RETURN_IF_ERROR(port.zero(off, e.length));
          off += e.length;
        }
        return Status::ok();
      }
      return port.write(at + run_start, std::span(buffer.data() + run_start, end - run_start));
    };
    for (size_t b = 0; b < have; b += kZeroBlock) {
      size_t n = std::min(kZeroBlock, have - b);
      bool zero = allZero(std::span(buffer.data() + b, n));
      if (b == 0) {
        run_zero = zero;
      } else if (zero != run_zero) {
        RETURN_IF_ERROR(flushRun(b));
        run_start = b;
        run_zero = zero;
      }
    }
    RETURN_IF_ERROR(flushRun(have));
    at += have;
    if (have < want) {
      return Status(ErrorCode::kInvalidArgument, "the body ended after " + std::to_string(stats.bytes) + " of " +
                                                     std::to_string(range.length()) + " bytes")
          .withReason("body_too_short");
    }
  }
  std::byte extra[1];
  ASSIGN_OR_RETURN(size_t more, source(std::span(extra, 1)));
  if (more != 0) {
    return Status(ErrorCode::kTooLarge, "the body has more than the " + std::to_string(range.length()) +
                                            " bytes announced; nothing past them was written")
        .withReason("body_exceeds_volume");
  }
  RETURN_IF_ERROR(port.flush());
  return stats;
}

}  // namespace tandem::controller
