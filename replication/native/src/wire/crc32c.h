// CRC32C (Castagnoli, reflected polynomial 0x82F63B78), computed in software with slice-by-8
// tables. Used for every replication frame's header and payload checksum.
// Thread-safe: pure functions over constant tables.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace tandem::replication::wire {

// Continues a CRC32C over `data`; start with crc = 0. crc32c("123456789") == 0xE3069283.
uint32_t crc32c(std::span<const std::byte> data, uint32_t crc = 0);

}  // namespace tandem::replication::wire
