#include "net/socket.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace tandem::replication::net {
namespace {

timeval toTimeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

Status ioError(int err, std::string_view what) {
  if (err == EAGAIN || err == EWOULDBLOCK)
    return Status(ErrorCode::kTimeout, std::string(what) + ": timed out");
  return Status::fromErrno(err, what);
}

}  // namespace

Socket::~Socket() { ::close(fd_); }

Status Socket::setTimeouts(std::chrono::milliseconds recv, std::chrono::milliseconds send) {
  timeval r = toTimeval(recv);
  timeval s = toTimeval(send);
  if (::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &r, sizeof(r)) != 0 ||
      ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &s, sizeof(s)) != 0) {
    return Status::fromErrno(errno, "setsockopt timeouts");
  }
  return Status::ok();
}

Status Socket::sendAll(std::span<const std::byte> data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ioError(errno, "send");
    }
    data = data.subspan(static_cast<size_t>(n));
  }
  return Status::ok();
}

Status Socket::recvExact(std::span<std::byte> out) {
  while (!out.empty()) {
    ssize_t n = ::recv(fd_, out.data(), out.size(), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ioError(errno, "recv");
    }
    if (n == 0) return Status(ErrorCode::kUnavailable, "connection closed by peer");
    out = out.subspan(static_cast<size_t>(n));
  }
  return Status::ok();
}

void Socket::shutdown() { ::shutdown(fd_, SHUT_RDWR); }

Result<std::shared_ptr<Socket>> connectTcp(const std::string& host, uint16_t port,
                                           std::chrono::milliseconds timeout) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::string service = std::to_string(port);
  int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &res);
  if (rc != 0) {
    return Status(ErrorCode::kUnavailable, "resolve " + host + ": " + ::gai_strerror(rc));
  }
  Status last(ErrorCode::kUnavailable, "no address for " + host);
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0) {
      last = Status::fromErrno(errno, "socket");
      continue;
    }
    auto sock = std::make_shared<Socket>(fd);
    int err = 0;
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
      err = errno;
      if (err == EINPROGRESS) {
        pollfd p{fd, POLLOUT, 0};
        int n;
        do {
          n = ::poll(&p, 1, static_cast<int>(timeout.count()));
        } while (n < 0 && errno == EINTR);
        if (n == 0) {
          err = ETIMEDOUT;
        } else if (n < 0) {
          err = errno;
        } else {
          socklen_t len = sizeof(err);
          if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
        }
      }
    }
    if (err != 0) {
      last = Status::fromErrno(err, "connect " + host + ":" + service);
      continue;
    }
    int flags = ::fcntl(fd, F_GETFL);
    ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    ::freeaddrinfo(res);
    return sock;
  }
  ::freeaddrinfo(res);
  return last;
}

Result<std::unique_ptr<Listener>> Listener::bind(const std::string& address, uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST;
  addrinfo* res = nullptr;
  std::string service = std::to_string(port);
  int rc = ::getaddrinfo(address.c_str(), service.c_str(), &hints, &res);
  if (rc != 0) {
    return Status(ErrorCode::kInvalidArgument, "bind address " + address + ": " + ::gai_strerror(rc));
  }
  int fd = ::socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol);
  if (fd < 0) {
    ::freeaddrinfo(res);
    return Status::fromErrno(errno, "socket");
  }
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (::bind(fd, res->ai_addr, res->ai_addrlen) != 0 || ::listen(fd, 64) != 0) {
    int err = errno;
    ::freeaddrinfo(res);
    ::close(fd);
    return Status::fromErrno(err, "bind/listen " + address + ":" + service);
  }
  ::freeaddrinfo(res);
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    int err = errno;
    ::close(fd);
    return Status::fromErrno(err, "getsockname");
  }
  uint16_t bound = ss.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                                            : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) != 0) {
    int err = errno;
    ::close(fd);
    return Status::fromErrno(err, "pipe");
  }
  return std::unique_ptr<Listener>(new Listener(fd, pipefd[0], pipefd[1], bound));
}

Listener::~Listener() {
  ::close(fd_);
  ::close(wake_read_);
  ::close(wake_write_);
}

Result<std::shared_ptr<Socket>> Listener::accept() {
  while (true) {
    pollfd p[2] = {{fd_, POLLIN, 0}, {wake_read_, POLLIN, 0}};
    int n = ::poll(p, 2, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::fromErrno(errno, "poll listener");
    }
    if (p[1].revents != 0) return Status(ErrorCode::kUnavailable, "listener closed");
    if (p[0].revents == 0) continue;
    int fd = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == ECONNABORTED) continue;
      return Status::fromErrno(errno, "accept");
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return std::make_shared<Socket>(fd);
  }
}

void Listener::close() {
  char c = 1;
  [[maybe_unused]] ssize_t n = ::write(wake_write_, &c, 1);
}

}  // namespace tandem::replication::net
