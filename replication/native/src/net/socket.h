// Blocking TCP sockets for the replication engine (thin transport; all framing is in wire/).
//
// Socket owns one connected fd. Thread-safety: one thread may send while another receives;
// shutdown() may be called from any thread at any time to wake both (the fd itself is closed
// only by the destructor, so it is never reused under a blocked call).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "tandem/common/status.h"

namespace tandem::replication::net {

class Socket {
 public:
  explicit Socket(int fd) : fd_(fd) {}
  ~Socket();
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;

  // Blocking calls fail with kTimeout after the given time without progress (0: never).
  Status setTimeouts(std::chrono::milliseconds recv, std::chrono::milliseconds send);
  Status sendAll(std::span<const std::byte> data);
  // Reads exactly out.size() bytes; kUnavailable on EOF.
  Status recvExact(std::span<std::byte> out);
  // Wakes blocked calls; later calls fail. Idempotent.
  void shutdown();

 private:
  int fd_;
};

// Connects to host:port (numeric or resolvable), failing after `timeout`.
Result<std::shared_ptr<Socket>> connectTcp(const std::string& host, uint16_t port,
                                           std::chrono::milliseconds timeout);

// A listening socket. accept() blocks until a connection arrives or close() is called
// (then kUnavailable). close() may be called from any thread.
class Listener {
 public:
  static Result<std::unique_ptr<Listener>> bind(const std::string& address, uint16_t port);
  ~Listener();
  uint16_t port() const { return port_; }
  Result<std::shared_ptr<Socket>> accept();
  void close();

 private:
  Listener(int fd, int wake_read, int wake_write, uint16_t port)
      : fd_(fd), wake_read_(wake_read), wake_write_(wake_write), port_(port) {}
  int fd_;
  int wake_read_;
  int wake_write_;
  uint16_t port_;
};

}  // namespace tandem::replication::net
