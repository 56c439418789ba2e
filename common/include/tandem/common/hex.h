// Hexadecimal digits: the one decoder of a hex digit (uuids, percent-escapes). Pure; thread-safe.
#pragma once

namespace tandem {

// The value (0-15) of the hex digit `c` (either case), or -1 if it is not one.
constexpr int hexDigitValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace tandem
