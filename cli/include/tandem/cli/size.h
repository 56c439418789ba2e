// Byte sizes as operators type and read them. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "tandem/common/status.h"

namespace tandem::cli {

// Parses "1073741824", "1GiB", "512MiB", "10G", "1.5T", "100MB", "4096B". Units are
// case-insensitive: K/M/G/T/P and KiB/MiB/GiB/TiB/PiB are powers of 1024, KB/MB/GB/TB/PB
// powers of 1000, B (or none) bytes. A fraction is allowed if the result is a whole number
// of bytes. Fails (kInvalidArgument) on anything else, on zero, and on overflow of 64 bits.
Result<uint64_t> parseSize(std::string_view text);

// "512 B", "1.0 KiB", "1.5 GiB", "10.0 TiB": one decimal, binary units.
std::string formatSize(uint64_t bytes);

}  // namespace tandem::cli
