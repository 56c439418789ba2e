#include "net/frame_io.h"

#include <array>

namespace tandem::replication::net {

Result<wire::Frame> readFrame(Socket& socket) {
  std::array<std::byte, wire::kHeaderSize> raw;
  RETURN_IF_ERROR(socket.recvExact(raw));
  ASSIGN_OR_RETURN(wire::FrameHeader header, wire::decodeHeader(raw));
  wire::Frame frame{header, std::vector<std::byte>(header.payload_length)};
  RETURN_IF_ERROR(socket.recvExact(frame.payload));
  RETURN_IF_ERROR(wire::verifyPayload(header, frame.payload));
  return frame;
}

Status writeFrame(Socket& socket, const wire::FrameHeader& header, std::span<const std::byte> payload) {
  std::vector<std::byte> bytes = wire::encodeFrame(header, payload);
  return socket.sendAll(bytes);
}

}  // namespace tandem::replication::net
