#include "request_handler.h"

#include <algorithm>
#include <array>

namespace tandem::nbd {
namespace {

uint16_t allowedFlags(Command command) {
  switch (command) {
    case Command::kWriteZeroes: return kCmdFlagFua | kCmdFlagNoHole;
    case Command::kBlockStatus: return kCmdFlagReqOne;
    // FUA is valid on every command once NBD_FLAG_SEND_FUA is advertised (spec).
    default: return kCmdFlagFua;
  }
}

bool inRange(const Request& request, uint64_t size) {
  return request.offset <= size && request.length <= size - request.offset;
}

NbdError writeZeroBuffers(devices::BlockDevice& device, uint64_t offset, uint64_t length, bool fua) {
  static const std::array<std::byte, 1 << 16> kZeroes{};
  for (uint64_t done = 0; done < length;) {
    uint64_t n = std::min<uint64_t>(kZeroes.size(), length - done);
    Status s = device.write(offset + done, std::span(kZeroes.data(), n), false);
    if (!s.isOk()) return nbdErrorFromStatus(s);
    done += n;
  }
  return fua ? nbdErrorFromStatus(device.flush()) : NbdError::kOk;
}

}  // namespace

RequestCheck checkRequest(const Request& request, const TransmissionLimits& limits) {
  auto reject = [](NbdError e) { return RequestCheck{RequestCheck::Action::kReject, e}; };
  switch (request.type) {
    case Command::kRead:
    case Command::kWrite:
    case Command::kFlush:
    case Command::kTrim:
    case Command::kWriteZeroes:
      break;
    case Command::kBlockStatus:
      if (!limits.block_status || request.length == 0) return reject(NbdError::kInval);
      break;
    default:
      // A payload-less unknown command: nothing to drain, EINVAL as the spec recommends.
      return reject(NbdError::kInval);
  }
  if (request.type == Command::kWrite && request.length > limits.max_payload) {
    return RequestCheck{RequestCheck::Action::kDisconnect, NbdError::kInval};
  }
  if ((request.flags & ~allowedFlags(request.type)) != 0) return reject(NbdError::kInval);
  if (request.type == Command::kRead && request.length > limits.max_payload) return reject(NbdError::kInval);
  if (request.type != Command::kFlush && !inRange(request, limits.device_size)) {
    bool writes = request.type == Command::kWrite || request.type == Command::kWriteZeroes;
    return reject(writes ? NbdError::kNoSpc : NbdError::kInval);
  }
  return RequestCheck{};
}

NbdError executeRequest(devices::BlockDevice& device, const Request& request, std::span<const std::byte> payload,
                        std::span<std::byte> read_out) {
  const bool fua = (request.flags & kCmdFlagFua) != 0;
  switch (request.type) {
    case Command::kRead:
      return nbdErrorFromStatus(device.read(request.offset, read_out.first(request.length)));
    case Command::kWrite:
      return nbdErrorFromStatus(device.write(request.offset, payload.first(request.length), fua));
    case Command::kFlush:
      return nbdErrorFromStatus(device.flush());
    case Command::kTrim:
      return nbdErrorFromStatus(device.trim(request.offset, request.length, fua));
    case Command::kWriteZeroes:
      if ((request.flags & kCmdFlagNoHole) != 0) {
        return writeZeroBuffers(device, request.offset, request.length, fua);
      }
      return nbdErrorFromStatus(device.writeZeroes(request.offset, request.length, fua));
    default:
      return NbdError::kInval;
  }
}

Result<std::vector<BlockStatusDescriptor>> blockStatus(devices::BlockDevice& device, const Request& request) {
  ASSIGN_OR_RETURN(std::vector<devices::Extent> extents, device.extents(request.offset, request.length));
  std::vector<BlockStatusDescriptor> out;
  const size_t limit = (request.flags & kCmdFlagReqOne) != 0 ? 1 : kMaxBlockStatusExtents;
  for (const devices::Extent& e : extents) {
    if (out.size() == limit) break;
    out.push_back(BlockStatusDescriptor{static_cast<uint32_t>(e.length), e.hole ? kStateHole | kStateZero : 0u});
  }
  if (out.empty()) return Status(ErrorCode::kInternal, "the device described no extent");
  return out;
}

}  // namespace tandem::nbd
