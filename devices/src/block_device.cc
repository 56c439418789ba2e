#include "tandem/devices/block_device.h"

#include <string>

namespace tandem::devices {

Status checkRange(uint64_t offset, uint64_t length, uint64_t size) {
  if (offset > size || length > size - offset) {
    return Status(ErrorCode::kInvalidArgument,
                  "range [" + std::to_string(offset) + ", +" + std::to_string(length) +
                      ") is outside the device of " + std::to_string(size) + " bytes");
  }
  return Status::ok();
}

Result<std::vector<Extent>> BlockDevice::extents(uint64_t offset, uint64_t length) {
  RETURN_IF_ERROR(checkRange(offset, length, sizeBytes()));
  std::vector<Extent> out;
  if (length > 0) out.push_back(Extent{length, false});
  return out;
}

}  // namespace tandem::devices
