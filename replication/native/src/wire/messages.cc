#include "wire/messages.h"

#include "tandem/common/big_endian.h"

namespace tandem::replication::wire {
namespace {

Status protocolError(std::string message) { return Status(ErrorCode::kProtocol, std::move(message)); }

constexpr uint32_t kMaxErrorCode = static_cast<uint32_t>(ErrorCode::kInternal);
// Status values on the wire are ErrorCode numbers; version 1 of the protocol freezes them
// (docs/replication.md). Reordering ErrorCode must fail here, not on the wire.
static_assert(static_cast<uint32_t>(ErrorCode::kOk) == 0 &&
                  static_cast<uint32_t>(ErrorCode::kNotFound) == 2 &&
                  static_cast<uint32_t>(ErrorCode::kConflict) == 4 &&
                  static_cast<uint32_t>(ErrorCode::kIo) == 7 &&
                  static_cast<uint32_t>(ErrorCode::kUnavailable) == 8 &&
                  static_cast<uint32_t>(ErrorCode::kPermissionDenied) == 11 &&
                  static_cast<uint32_t>(ErrorCode::kProtocol) == 14 && kMaxErrorCode == 15,
              "wire status numbering changed");

// Sequential reader over a payload; every get fails cleanly past the end.
class Reader {
 public:
  explicit Reader(std::span<const std::byte> data) : data_(data) {}
  bool get(int bytes, uint64_t* out) {
    if (data_.size() - pos_ < static_cast<size_t>(bytes)) return false;
    *out = getBe(data_.data() + pos_, bytes);
    pos_ += static_cast<size_t>(bytes);
    return true;
  }
  bool getString(size_t max, std::string* out) {
    uint64_t n = 0;
    if (!get(2, &n) || n > max || data_.size() - pos_ < n) return false;
    out->assign(reinterpret_cast<const char*>(data_.data() + pos_), n);
    pos_ += n;
    return true;
  }
  bool atEnd() const { return pos_ == data_.size(); }

 private:
  std::span<const std::byte> data_;
  size_t pos_ = 0;
};

void appendString(std::vector<std::byte>& out, const std::string& s, size_t max) {
  size_t n = std::min(s.size(), max);
  appendBe(out, n, 2);
  const auto* p = reinterpret_cast<const std::byte*>(s.data());
  out.insert(out.end(), p, p + n);
}

}  // namespace

std::vector<std::byte> encodeHello(const Hello& hello) {
  std::vector<std::byte> out;
  appendBe(out, hello.epoch, 8);
  appendBe(out, hello.generation, 8);
  appendBe(out, hello.size_bytes, 8);
  appendString(out, hello.node, kMaxNodeName);
  const size_t n = std::min(hello.history.size(), kMaxHelloHistory);
  appendBe(out, n, 2);
  for (size_t i = 0; i < n; ++i) appendBe(out, hello.history[i], 8);
  return out;
}

Result<Hello> decodeHello(std::span<const std::byte> payload) {
  Reader r(payload);
  Hello h;
  uint64_t n = 0;
  if (!r.get(8, &h.epoch) || !r.get(8, &h.generation) || !r.get(8, &h.size_bytes) ||
      !r.getString(kMaxNodeName, &h.node) || !r.get(2, &n) || n > kMaxHelloHistory) {
    return protocolError("malformed HELLO payload");
  }
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t g = 0;
    if (!r.get(8, &g)) return protocolError("malformed HELLO payload");
    h.history.push_back(g);
  }
  if (!r.atEnd()) return protocolError("malformed HELLO payload");
  return h;
}

std::vector<std::byte> encodeHelloReply(const HelloReply& reply) {
  std::vector<std::byte> out;
  appendBe(out, static_cast<uint32_t>(reply.status), 4);
  appendBe(out, reply.generation, 8);
  appendBe(out, static_cast<uint8_t>(reply.disk), 1);
  appendBe(out, reply.diverged ? 1 : 0, 1);
  appendString(out, reply.message, kMaxReplyMessage);
  return out;
}

Result<HelloReply> decodeHelloReply(std::span<const std::byte> payload) {
  Reader r(payload);
  HelloReply h;
  uint64_t status = 0;
  uint64_t disk = 0;
  uint64_t diverged = 0;
  if (!r.get(4, &status) || !r.get(8, &h.generation) || !r.get(1, &disk) || !r.get(1, &diverged) ||
      !r.getString(kMaxReplyMessage, &h.message) || !r.atEnd() || status > kMaxErrorCode ||
      disk > static_cast<uint8_t>(DiskState::kOutdated) || diverged > 1) {
    return protocolError("malformed HELLO_REPLY payload");
  }
  h.status = static_cast<ErrorCode>(status);
  h.disk = static_cast<DiskState>(disk);
  h.diverged = diverged == 1;
  return h;
}

std::vector<std::byte> encodeAck(ErrorCode status) {
  std::vector<std::byte> out;
  appendBe(out, static_cast<uint32_t>(status), 4);
  return out;
}

Result<ErrorCode> decodeAck(std::span<const std::byte> payload) {
  Reader r(payload);
  uint64_t status = 0;
  if (!r.get(4, &status) || !r.atEnd() || status > kMaxErrorCode) {
    return protocolError("malformed ACK payload");
  }
  return static_cast<ErrorCode>(status);
}

std::vector<std::byte> encodeGeneration(uint64_t generation) {
  std::vector<std::byte> out;
  appendBe(out, generation, 8);
  return out;
}

Result<uint64_t> decodeGeneration(std::span<const std::byte> payload) {
  Reader r(payload);
  uint64_t g = 0;
  if (!r.get(8, &g) || !r.atEnd()) return protocolError("malformed generation payload");
  return g;
}

}  // namespace tandem::replication::wire
