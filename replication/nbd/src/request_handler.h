// Transmission-phase request handling as pure functions over a BlockDevice: the validity
// checks of a request header, and the execution of a valid request. No sockets.
// Thread-safety: reentrant; the device is thread-safe by its contract.
#pragma once

#include <cstdint>
#include <span>

#include "tandem/devices/block_device.h"
#include "tandem/nbd/protocol.h"

namespace tandem::nbd {

struct TransmissionLimits {
  uint64_t device_size = 0;
  uint32_t max_payload = 32u << 20;  // largest READ/WRITE length accepted
  bool block_status = false;         // BLOCK_STATUS allowed (base:allocation negotiated)
};

struct RequestCheck {
  enum class Action {
    kExecute,     // valid: read the payload (writes), then executeRequest()
    kReject,      // read and discard the payload (writes), reply `error`
    kDisconnect,  // a write payload larger than the limit: hard disconnect
  };
  Action action = Action::kExecute;
  NbdError error = NbdError::kOk;
};

// Checks a request (other than DISC) before its payload is read:
// unknown command or a flag not valid for the command → EINVAL; READ longer than max_payload
// → EINVAL; WRITE longer than max_payload → disconnect; a range past the device end → ENOSPC
// for WRITE/WRITE_ZEROES (the spec's SHOULD), EINVAL for READ/TRIM/BLOCK_STATUS. BLOCK_STATUS
// without a negotiated context, or of length 0, is EINVAL.
RequestCheck checkRequest(const Request& request, const TransmissionLimits& limits);

// Bytes of payload that follow the header of `request` (the write data).
inline uint32_t payloadLength(const Request& request) {
  return request.type == Command::kWrite ? request.length : 0;
}

// Executes a request that passed checkRequest(). `payload` is the write data; `read_out`
// has request.length bytes for a READ. FUA is passed to the device; WRITE_ZEROES with
// NO_HOLE writes zero buffers instead of asking the device to deallocate.
NbdError executeRequest(devices::BlockDevice& device, const Request& request, std::span<const std::byte> payload,
                        std::span<std::byte> read_out);

// Most extents one BLOCK_STATUS reply describes (the spec lets a reply cover less than asked).
inline constexpr size_t kMaxBlockStatusExtents = 1u << 16;

// Executes a BLOCK_STATUS that passed checkRequest(): the base:allocation extents of the range
// from the device (a hole is HOLE|ZERO, data 0), starting at request.offset, covering at most
// request.length bytes, at least one extent; only one with NBD_CMD_FLAG_REQ_ONE.
Result<std::vector<BlockStatusDescriptor>> blockStatus(devices::BlockDevice& device, const Request& request);

}  // namespace tandem::nbd
