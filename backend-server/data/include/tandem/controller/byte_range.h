// Byte ranges of the volume data routes (GET/PUT /v1/volumes/{v}/data), parsed from HTTP
// headers (RFC 9110 §14). Pure functions over strings; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "tandem/common/status.h"

namespace tandem::controller {

// [begin, end): `end - begin` bytes starting at `begin`.
struct ByteRange {
  uint64_t begin = 0;
  uint64_t end = 0;
  uint64_t length() const { return end - begin; }
  bool operator==(const ByteRange&) const = default;
};

// The range a GET returns for its `Range` header ("" when absent) of a volume of `size` bytes:
// the whole volume without a header (partial = false), else the one range asked —
// "bytes=a-b" (b clipped to the end), "bytes=a-" or the suffix "bytes=-n" — with partial = true.
// A header that is not one byte range (several ranges, another unit, garbage): kInvalidArgument
// (reason invalid_range); a range that starts at or past the end, or an empty suffix:
// kInvalidArgument with reason range_not_satisfiable (answered 416, Content-Range "bytes */size").
struct GetRange {
  ByteRange range;
  bool partial = false;
};
Result<GetRange> parseRangeHeader(std::string_view header, uint64_t size);

// The range a PUT writes: without `Content-Range` (""), the body must be the whole volume
// (Content-Length == size, else kInvalidArgument reason length_mismatch: "fewer bytes than the
// volume need a Content-Range"; more: kTooLarge reason body_exceeds_volume). With
// "bytes a-b/total" (total may be "*"), the body is bytes a..b: b < size (kTooLarge reason
// body_exceeds_volume otherwise), total equal to size when given (kInvalidArgument reason
// size_mismatch), and Content-Length equal to b - a + 1 (kInvalidArgument reason
// length_mismatch). A missing Content-Length: kInvalidArgument reason length_required.
// Malformed: kInvalidArgument reason invalid_range.
Result<ByteRange> parsePutRange(std::string_view content_range, std::optional<uint64_t> content_length,
                                uint64_t size);

// "bytes a-b/size" for a response's Content-Range (range not empty).
std::string contentRange(const ByteRange& range, uint64_t size);

// Parses a decimal Content-Length (digits only, no overflow); nullopt for "" or garbage.
std::optional<uint64_t> parseContentLength(std::string_view value);

}  // namespace tandem::controller
