// URL helpers shared by the HTTPS server (decoding request targets) and clients (building
// targets, parsing the base URL). Pure functions of their arguments; thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "tandem/common/status.h"

namespace tandem::http {

// Decodes %XX escapes; with `plus_is_space` (query strings) '+' becomes ' '.
// Fails (kInvalidArgument) on a truncated or non-hex escape.
Result<std::string> percentDecode(std::string_view text, bool plus_is_space);

// Escapes everything except RFC 3986 unreserved characters (A-Z a-z 0-9 - . _ ~), so the
// result is safe as one path segment or one query key/value.
std::string percentEncode(std::string_view text);

// Parses "a=1&b=x%20y&flag" into {a:1, b:"x y", flag:""}. Empty pieces are skipped; a repeated
// key keeps its last value. Fails (kInvalidArgument) on a bad escape.
Result<std::map<std::string, std::string>> parseQuery(std::string_view query);

// The parts of a server's base URL: "https://host:port" (an optional trailing "/" is allowed).
struct BaseUrl {
  std::string host;  // a DNS name or an IP address (IPv6 without brackets)
  uint16_t port = 443;
};

// Accepts only the https scheme, a non-empty host and an optional port 1-65535; no path,
// query or user info. Fails with kInvalidArgument naming the problem.
Result<BaseUrl> parseBaseUrl(std::string_view url);

}  // namespace tandem::http
