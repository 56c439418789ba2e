#include "socket_io.h"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

namespace tandem::nbd {

Status readFull(int fd, std::span<std::byte> out) {
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::recv(fd, out.data() + done, out.size() - done, 0);
    if (n > 0) {
      done += static_cast<size_t>(n);
    } else if (n == 0) {
      return Status(ErrorCode::kUnavailable, "peer closed the connection");
    } else if (errno != EINTR) {
      return Status::fromErrno(errno, "recv");
    }
  }
  return Status::ok();
}

Status discardBytes(int fd, uint64_t length) {
  std::array<std::byte, 1 << 16> sink;
  while (length > 0) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(length, sink.size()));
    RETURN_IF_ERROR(readFull(fd, std::span(sink.data(), n)));
    length -= n;
  }
  return Status::ok();
}

Status writeFull(int fd, std::span<const std::byte> first, std::span<const std::byte> second) {
  std::array<iovec, 2> iov{iovec{const_cast<std::byte*>(first.data()), first.size()},
                           iovec{const_cast<std::byte*>(second.data()), second.size()}};
  size_t index = 0;
  while (index < iov.size()) {
    if (iov[index].iov_len == 0) {
      ++index;
      continue;
    }
    msghdr msg{};
    msg.msg_iov = &iov[index];
    msg.msg_iovlen = iov.size() - index;
    ssize_t n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::fromErrno(errno, "sendmsg");
    }
    auto left = static_cast<size_t>(n);
    while (index < iov.size() && left >= iov[index].iov_len) {
      left -= iov[index].iov_len;
      ++index;
    }
    if (index < iov.size()) {
      iov[index].iov_base = static_cast<std::byte*>(iov[index].iov_base) + left;
      iov[index].iov_len -= left;
    }
  }
  return Status::ok();
}

Result<int> listenTcp(const std::string& address, uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  std::string service = std::to_string(port);
  int rc = ::getaddrinfo(address.empty() ? nullptr : address.c_str(), service.c_str(), &hints, &found);
  if (rc != 0) {
    return Status(ErrorCode::kInvalidArgument,
                  "bind address '" + address + "' is not a numeric address: " + ::gai_strerror(rc));
  }
  std::string where = "tcp " + address + ":" + service;
  int fd = ::socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    Status s = Status::fromErrno(errno, "socket " + where);
    ::freeaddrinfo(found);
    return s;
  }
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (::bind(fd, found->ai_addr, found->ai_addrlen) != 0 || ::listen(fd, 128) != 0) {
    Status s = Status::fromErrno(errno, "bind/listen " + where);
    ::freeaddrinfo(found);
    ::close(fd);
    return s;
  }
  ::freeaddrinfo(found);
  return fd;
}

Result<uint16_t> boundPort(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return Status::fromErrno(errno, "getsockname");
  }
  if (addr.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  if (addr.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
  return Status(ErrorCode::kInvalidArgument, "socket is not an IP socket");
}

Result<int> listenUnix(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    return Status(ErrorCode::kInvalidArgument, "UNIX socket path '" + path + "' is empty or too long");
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return Status(ErrorCode::kAlreadyExists, "'" + path + "' exists and is not a socket");
    }
    if (::unlink(path.c_str()) != 0) return Status::fromErrno(errno, "unlink stale socket " + path);
  }
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::fromErrno(errno, "socket unix " + path);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || ::listen(fd, 128) != 0) {
    Status s = Status::fromErrno(errno, "bind/listen unix " + path);
    ::close(fd);
    return s;
  }
  return fd;
}

}  // namespace tandem::nbd
