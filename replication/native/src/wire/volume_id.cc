#include "wire/volume_id.h"

#include "tandem/common/hex.h"

namespace tandem::replication::wire {

Result<VolumeId> volumeIdFromUuid(std::string_view text) {
  if (text.size() != 36) return Status(ErrorCode::kInvalidArgument, "not a uuid: " + std::string(text));
  VolumeId id{};
  size_t out = 0;
  for (size_t i = 0; i < text.size();) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (text[i] != '-') return Status(ErrorCode::kInvalidArgument, "not a uuid: " + std::string(text));
      ++i;
      continue;
    }
    int hi = hexDigitValue(text[i]);
    int lo = i + 1 < text.size() ? hexDigitValue(text[i + 1]) : -1;
    if (hi < 0 || lo < 0 || out >= id.size()) {
      return Status(ErrorCode::kInvalidArgument, "not a uuid: " + std::string(text));
    }
    id[out++] = static_cast<std::byte>(hi << 4 | lo);
    i += 2;
  }
  if (out != id.size()) return Status(ErrorCode::kInvalidArgument, "not a uuid: " + std::string(text));
  return id;
}

std::string volumeIdToUuid(const VolumeId& id) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  s.reserve(36);
  for (size_t i = 0; i < id.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s.push_back('-');
    auto b = static_cast<uint8_t>(id[i]);
    s.push_back(kHex[b >> 4]);
    s.push_back(kHex[b & 0xF]);
  }
  return s;
}

}  // namespace tandem::replication::wire
