// Reading and writing whole replication frames on a Socket. Thread-safety: as Socket (one
// reader and one writer at a time).
#pragma once

#include "net/socket.h"
#include "wire/frame.h"

namespace tandem::replication::net {

// Reads one frame: header, validation, payload, payload CRC. kProtocol for a bad frame (the
// caller must then drop the connection: the stream position is lost).
Result<wire::Frame> readFrame(Socket& socket);
Status writeFrame(Socket& socket, const wire::FrameHeader& header, std::span<const std::byte> payload);

}  // namespace tandem::replication::net
