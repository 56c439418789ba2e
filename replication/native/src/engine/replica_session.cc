#include "engine/replica_session.h"

#include "net/frame_io.h"
#include "tandem/common/log.h"

namespace tandem::replication {
namespace {
constexpr std::string_view kLog = "replication";
}

void ReplicaSession::run() {
  Status st = serve();
  if (!st.isOk()) log::info(kLog, "replica session ended: " + st.toString());
  socket_->shutdown();
  finished_.store(true);
}

Status ReplicaSession::refuse(const wire::FrameHeader& hello, const Status& why, wire::HelloReply reply) {
  reply.status = why.code();
  reply.message = why.message();
  wire::FrameHeader h;
  h.type = wire::FrameType::kHelloReply;
  h.volume = hello.volume;
  (void)net::writeFrame(*socket_, h, wire::encodeHelloReply(reply));
  return why;
}

Status ReplicaSession::serve() {
  // The handshake must come promptly; afterwards the primary pings every peer_timeout/3, so
  // three timeouts of silence mean it is gone.
  RETURN_IF_ERROR(socket_->setTimeouts(peer_timeout_, peer_timeout_));
  ASSIGN_OR_RETURN(wire::Frame first, net::readFrame(*socket_));
  if (first.header.type != wire::FrameType::kHello) {
    return Status(ErrorCode::kProtocol, "first frame is not HELLO");
  }
  auto hello = wire::decodeHello(first.payload);
  if (!hello.isOk()) return refuse(first.header, hello.status());
  const std::string uuid = wire::volumeIdToUuid(first.header.volume);
  std::shared_ptr<Volume> volume = lookup_(uuid);
  if (!volume) return refuse(first.header, Status(ErrorCode::kNotFound, "unknown volume " + uuid));
  wire::HelloReply reply;
  auto session = volume->acceptSession(*hello, socket_, &reply);
  if (!session.isOk()) return refuse(first.header, session.status(), reply);

  wire::FrameHeader rh;
  rh.type = wire::FrameType::kHelloReply;
  rh.volume = first.header.volume;
  Status st = net::writeFrame(*socket_, rh, wire::encodeHelloReply(reply));
  if (st.isOk()) st = socket_->setTimeouts(peer_timeout_ * 3, peer_timeout_);
  uint64_t last_seq = 0;
  while (st.isOk()) {
    auto frame = net::readFrame(*socket_);
    if (!frame.isOk()) {
      st = frame.status();
      break;
    }
    const auto& h = frame->header;
    if (h.type == wire::FrameType::kPing) {
      wire::FrameHeader pong;
      pong.type = wire::FrameType::kPong;
      pong.volume = h.volume;
      st = net::writeFrame(*socket_, pong, {});
      continue;
    }
    if (h.volume != first.header.volume) {
      st = Status(ErrorCode::kProtocol, "frame for another volume");
      break;
    }
    if (h.sequence <= last_seq) {
      st = Status(ErrorCode::kProtocol, "sequence number went backwards");
      break;
    }
    last_seq = h.sequence;
    auto code = volume->applyReplicated(*session, *frame);
    if (!code.isOk()) {
      st = code.status();
      if (st.code() == ErrorCode::kPermissionDenied) {
        // Fenced: say so (the frame was not applied), then end the session.
        wire::FrameHeader ack;
        ack.type = wire::FrameType::kAck;
        ack.volume = h.volume;
        ack.sequence = h.sequence;
        (void)net::writeFrame(*socket_, ack, wire::encodeAck(st.code()));
      }
      break;
    }
    wire::FrameHeader ack;
    ack.type = wire::FrameType::kAck;
    ack.volume = h.volume;
    ack.sequence = h.sequence;
    st = net::writeFrame(*socket_, ack, wire::encodeAck(*code));
  }
  volume->endSession(*session);
  return st;
}

}  // namespace tandem::replication
