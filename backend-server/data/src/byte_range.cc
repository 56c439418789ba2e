#include "tandem/controller/byte_range.h"

#include <charconv>

namespace tandem::controller {
namespace {

Status invalid(std::string message, std::string_view reason = "invalid_range") {
  return Status(ErrorCode::kInvalidArgument, std::move(message)).withReason(std::string(reason));
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Digits only, no sign, no overflow.
std::optional<uint64_t> number(std::string_view s) {
  if (s.empty() || s.size() > 20) return std::nullopt;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

std::optional<uint64_t> parseContentLength(std::string_view value) { return number(trim(value)); }

Result<GetRange> parseRangeHeader(std::string_view header, uint64_t size) {
  header = trim(header);
  if (header.empty()) return GetRange{ByteRange{0, size}, false};
  const std::string text(header);
  if (header.substr(0, 6) != "bytes=") return invalid("Range '" + text + "' is not a byte range (bytes=a-b)");
  std::string_view spec = trim(header.substr(6));
  if (spec.find(',') != std::string_view::npos) {
    return invalid("Range '" + text + "' asks for several ranges; one is supported");
  }
  size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return invalid("Range '" + text + "' has no '-'");
  std::string_view first = trim(spec.substr(0, dash)), last = trim(spec.substr(dash + 1));
  auto unsatisfiable = [&](const std::string& why) {
    return Status(ErrorCode::kInvalidArgument, "Range '" + text + "' " + why + " (the volume has " +
                                              std::to_string(size) + " bytes)")
        .withReason("range_not_satisfiable");
  };
  if (first.empty()) {  // suffix: the last n bytes
    auto n = number(last);
    if (!n) return invalid("Range '" + text + "' is malformed");
    if (*n == 0 || size == 0) return unsatisfiable("is empty");
    return GetRange{ByteRange{size - std::min(*n, size), size}, true};
  }
  auto begin = number(first);
  if (!begin) return invalid("Range '" + text + "' is malformed");
  uint64_t end = size;
  if (!last.empty()) {
    auto l = number(last);
    if (!l) return invalid("Range '" + text + "' is malformed");
    if (*l < *begin) return invalid("Range '" + text + "' ends before it starts");
    end = std::min(size, *l + 1);
  }
  if (*begin >= size) return unsatisfiable("starts at or past the end");
  return GetRange{ByteRange{*begin, end}, true};
}

Result<ByteRange> parsePutRange(std::string_view content_range, std::optional<uint64_t> content_length,
                                uint64_t size) {
  if (!content_length) {
    return invalid("a PUT of volume data needs a Content-Length (chunked uploads are not accepted)",
                   "length_required");
  }
  content_range = trim(content_range);
  if (content_range.empty()) {
    if (*content_length > size) {
      return Status(ErrorCode::kTooLarge, "the body has " + std::to_string(*content_length) +
                                                " bytes, more than the volume's " + std::to_string(size))
          .withReason("body_exceeds_volume");
    }
    if (*content_length < size) {
      return invalid("the body has " + std::to_string(*content_length) + " bytes, fewer than the volume's " +
                         std::to_string(size) + ": send a Content-Range to write part of it",
                     "length_mismatch");
    }
    return ByteRange{0, size};
  }
  const std::string text(content_range);
  if (content_range.substr(0, 6) != "bytes ") {
    return invalid("Content-Range '" + text + "' is not 'bytes a-b/size'");
  }
  std::string_view spec = trim(content_range.substr(6));
  size_t dash = spec.find('-'), slash = spec.find('/');
  if (dash == std::string_view::npos || slash == std::string_view::npos || slash < dash) {
    return invalid("Content-Range '" + text + "' is not 'bytes a-b/size'");
  }
  auto first = number(trim(spec.substr(0, dash)));
  auto last = number(trim(spec.substr(dash + 1, slash - dash - 1)));
  std::string_view total = trim(spec.substr(slash + 1));
  if (!first || !last || *last < *first) return invalid("Content-Range '" + text + "' is malformed");
  if (total != "*") {
    auto t = number(total);
    if (!t) return invalid("Content-Range '" + text + "' is malformed");
    if (*t != size) {
      return invalid("Content-Range '" + text + "' says the volume has " + std::to_string(*t) + " bytes; it has " +
                         std::to_string(size),
                     "size_mismatch");
    }
  }
  if (*last >= size) {
    return Status(ErrorCode::kTooLarge, "Content-Range '" + text + "' ends past the volume's " +
                                              std::to_string(size) + " bytes")
        .withReason("body_exceeds_volume");
  }
  if (*content_length != *last - *first + 1) {
    return invalid("Content-Length " + std::to_string(*content_length) + " does not match Content-Range '" + text +
                       "' (" + std::to_string(*last - *first + 1) + " bytes)",
                   "length_mismatch");
  }
  return ByteRange{*first, *last + 1};
}

std::string contentRange(const ByteRange& range, uint64_t size) {
  return "bytes " + std::to_string(range.begin) + "-" + std::to_string(range.end - 1) + "/" + std::to_string(size);
}

}  // namespace tandem::controller
