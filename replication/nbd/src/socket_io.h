// Blocking socket helpers for the NBD server: whole-buffer reads and writes, listeners.
// Every error is a Status (errno converted by Status::fromErrno); a peer that closes gives
// kUnavailable. Writes use MSG_NOSIGNAL, so a vanished peer never raises SIGPIPE.
// Thread-safety: stateless functions; callers own their file descriptors.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "tandem/common/status.h"

namespace tandem::nbd {

// Reads exactly out.size() bytes.
Status readFull(int fd, std::span<std::byte> out);
// Reads and drops `length` bytes.
Status discardBytes(int fd, uint64_t length);
// Writes `first` then `second` completely (one sendmsg when possible).
Status writeFull(int fd, std::span<const std::byte> first, std::span<const std::byte> second = {});

// A listening TCP socket on a numeric address ("127.0.0.1", "::", "" for any) and port
// (0: the kernel picks one). Close-on-exec, SO_REUSEADDR.
Result<int> listenTcp(const std::string& address, uint16_t port);
// The port a bound socket listens on.
Result<uint16_t> boundPort(int fd);
// A listening UNIX stream socket at `path`; an existing socket file there is replaced, any
// other existing file is an error (kAlreadyExists).
Result<int> listenUnix(const std::string& path);

}  // namespace tandem::nbd
