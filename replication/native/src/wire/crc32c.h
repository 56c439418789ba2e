// CRC32C (Castagnoli, reflected polynomial 0x82F63B78), used for every replication frame's
// header and payload checksum. crc32c() uses the CPU's CRC32 instruction (SSE4.2) when the CPU
// has it, else software slice-by-8 tables; both give identical results.
// Thread-safe: pure functions over constant tables.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace tandem::replication::wire {

// Continues a CRC32C over `data`; start with crc = 0. crc32c("123456789") == 0xE3069283.
uint32_t crc32c(std::span<const std::byte> data, uint32_t crc = 0);

// The software implementation alone (for tests and CPUs without SSE4.2).
uint32_t crc32cSoftware(std::span<const std::byte> data, uint32_t crc = 0);
// True when crc32c() uses the hardware instruction on this CPU.
bool crc32cHardwareAvailable();

}  // namespace tandem::replication::wire
