// ReplicaSession: the replica side of one incoming connection. Reads HELLO, finds the volume,
// lets it accept or refuse (HELLO_REPLY with a status, then close), then applies frames in
// order and acknowledges each one. Any malformed frame, sequence regression or frame for
// another volume ends the connection; a frame refused for a stale writer epoch is answered
// with ACK kPermissionDenied, then the connection ends. PING is answered with PONG.
// Thread-safety: run() is called once, on the session's own thread; shutdown() from anywhere.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "engine/volume.h"
#include "net/socket.h"

namespace tandem::replication {

class ReplicaSession {
 public:
  using VolumeLookup = std::function<std::shared_ptr<Volume>(const std::string& volume_uuid)>;

  ReplicaSession(std::shared_ptr<net::Socket> socket, VolumeLookup lookup,
                 std::chrono::milliseconds peer_timeout)
      : socket_(std::move(socket)), lookup_(std::move(lookup)), peer_timeout_(peer_timeout) {}

  void run();
  void shutdown() { socket_->shutdown(); }
  bool finished() const { return finished_.load(); }

 private:
  Status serve();
  // Sends HELLO_REPLY `reply` with `why` as its status and message; returns `why`.
  Status refuse(const wire::FrameHeader& hello, const Status& why, wire::HelloReply reply = {});

  std::shared_ptr<net::Socket> socket_;
  VolumeLookup lookup_;
  std::chrono::milliseconds peer_timeout_;
  std::atomic<bool> finished_{false};
};

}  // namespace tandem::replication
