#include "tandem/attach/nbd_connection_pool.h"

#include <libnbd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <vector>

#include "tandem/common/log.h"

namespace tandem::attach {
namespace {

constexpr std::string_view kLog = "disk-fuse";
// A TCP peer that vanishes without a reset (host down, partition) fails requests after this
// long instead of hanging them: TCP_USER_TIMEOUT plus keepalive probes.
constexpr int kTcpUserTimeoutMs = 15000;
constexpr int kConnectTimeoutSeconds = 10;
// Large TRIM/WRITE_ZEROES are cut into pieces of at most this many bytes (NBD lengths are 32-bit).
constexpr uint64_t kMaxZeroChunk = 1ull << 30;

std::string nbdError(std::string_view what) {
  const char* e = nbd_get_error();
  return std::string(what) + ": " + (e ? e : "unknown libnbd error");
}

// A connected TCP socket with failure detection bounded in time, or -1 and `error`.
int connectTcp(const NbdEndpoint& endpoint, std::string* error) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  std::string port = std::to_string(endpoint.tcp_port);
  int rc = ::getaddrinfo(endpoint.tcp_host.c_str(), port.c_str(), &hints, &found);
  if (rc != 0) {
    *error = "resolve " + endpoint.tcp_host + ": " + gai_strerror(rc);
    return -1;
  }
  int fd = -1;
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    timeval tv{kConnectTimeoutSeconds, 0};
    int one = 1, idle = 5, interval = 2, count = 3, user_timeout = kTcpUserTimeoutMs;
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);  // bounds connect(2)
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
    ::setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout, sizeof user_timeout);
    if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
      timeval none{0, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &none, sizeof none);
      break;
    }
    *error = "connect " + endpoint.describe() + ": " + std::strerror(errno);
    ::close(fd);
    fd = -1;
  }
  ::freeaddrinfo(found);
  return fd;
}

}  // namespace

NbdConnectionPool::Generation::~Generation() {
  for (auto& c : connections) {
    if (c->handle != nullptr) nbd_close(c->handle);
  }
}

NbdConnectionPool::NbdConnectionPool(std::string attachment_dir, unsigned connections,
                                     std::chrono::milliseconds io_wait)
    : dir_(std::move(attachment_dir)), connections_(std::max(1u, connections)), io_wait_(io_wait) {}

NbdConnectionPool::~NbdConnectionPool() { stop(); }

Result<std::shared_ptr<NbdConnectionPool::Generation>> NbdConnectionPool::connect(
    const AttachmentSpecFile& spec) {
  auto generation = std::make_shared<Generation>();
  generation->id = spec.generation;
  for (unsigned i = 0; i < connections_; ++i) {
    auto c = std::make_unique<Connection>();
    c->handle = nbd_create();
    if (c->handle == nullptr) return Status(ErrorCode::kInternal, nbdError("nbd_create"));
    generation->connections.push_back(std::move(c));
    nbd_handle* h = generation->connections.back()->handle;
    if (nbd_set_export_name(h, spec.endpoint.export_name.c_str()) == -1) {
      return Status(ErrorCode::kInvalidArgument, nbdError("export name"));
    }
    int rc;
    if (spec.endpoint.isUnix()) {
      rc = nbd_connect_unix(h, spec.endpoint.unix_path.c_str());
    } else {
      std::string error;
      int fd = connectTcp(spec.endpoint, &error);
      if (fd < 0) return Status(ErrorCode::kUnavailable, error);
      rc = nbd_connect_socket(h, fd);  // libnbd owns fd from here on
    }
    if (rc == -1) return Status(ErrorCode::kUnavailable, nbdError("connect " + spec.endpoint.describe()));
    int64_t size = nbd_get_size(h);
    if (size < 0 || static_cast<uint64_t>(size) < spec.size_bytes) {
      return Status(ErrorCode::kInvalidArgument, "export " + spec.endpoint.describe() + " has " +
                                                     std::to_string(size) + " bytes, the volume " +
                                                     std::to_string(spec.size_bytes));
    }
    if (nbd_is_read_only(h) == 1) {
      return Status(ErrorCode::kPermissionDenied, "export " + spec.endpoint.describe() + " is read-only");
    }
    generation->can_zero = nbd_can_zero(h) == 1;
  }
  return generation;
}

Status NbdConnectionPool::start() {
  auto text = readWholeFile(dir_ + "/" + std::string(kSpecFile));
  if (!text.isOk()) return text.status();
  auto spec = decodeSpec(*text);
  if (!spec.isOk()) return spec.status();
  auto generation = connect(*spec);
  if (!generation.isOk()) return generation.status();
  {
    std::lock_guard lock(mu_);
    spec_ = *spec;
    size_bytes_ = spec->size_bytes;
    current_ = std::move(generation).value();
  }
  writeStatus(spec->generation, LinkState::kConnected, "");
  reconnector_ = std::thread([this] { reconnectLoop(); });
  return Status::ok();
}

void NbdConnectionPool::retarget() {
  std::lock_guard lock(mu_);
  retarget_requested_ = true;
  changed_.notify_all();
}

void NbdConnectionPool::grow() {
  std::lock_guard lock(mu_);
  grow_requested_ = true;
  changed_.notify_all();
}

void NbdConnectionPool::setOnGrown(std::function<void()> on_grown) {
  std::lock_guard lock(mu_);
  on_grown_ = std::move(on_grown);
}

void NbdConnectionPool::growLocked(std::unique_lock<std::mutex>& lock) {
  grow_requested_ = false;
  const std::string error_path = dir_ + "/" + std::string(kGrowErrorFile);
  auto fail = [&](const std::string& why) {
    log::warn(kLog, "grow: " + why);
    lock.unlock();
    Status s = writeFileAtomically(error_path, why + "\n");
    if (!s.isOk()) log::error(kLog, "grow error file: " + s.toString());
    lock.lock();
  };
  lock.unlock();
  auto text = readWholeFile(dir_ + "/" + std::string(kGrowFile));
  lock.lock();
  uint64_t target = 0;
  if (!text.isOk()) return fail("no grow request: " + text.status().toString());
  std::string digits = *text;
  while (!digits.empty() && (digits.back() == '\n' || digits.back() == ' ')) digits.pop_back();
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), target);
  if (ec != std::errc() || end != digits.data() + digits.size() || target % 512 != 0) {
    return fail("bad grow request '" + digits + "'");
  }
  if (target <= size_bytes_.load()) return;  // nothing to do (a repeat, or already that big)
  if (!current_) return fail("not connected; retry");
  AttachmentSpecFile spec = spec_;
  spec.size_bytes = target;
  spec.generation = spec_.generation + 1;
  lock.unlock();
  auto generation = connect(spec);  // the current generation keeps serving meanwhile
  lock.lock();
  if (!generation.isOk()) return fail("cannot serve " + std::to_string(target) + " bytes yet: " +
                                      generation.status().message());
  if (retarget_requested_ || stopping_ || spec_.generation + 1 != spec.generation) {
    return fail("the attachment changed meanwhile; retry");
  }
  // The spec first (what is served must never be less than the spec says), then the switch.
  Status written = writeFileAtomically(dir_ + "/" + std::string(kSpecFile), encodeSpec(spec));
  if (!written.isOk()) return fail("writing the spec: " + written.toString());
  current_ = std::move(generation).value();
  spec_ = spec;
  size_bytes_.store(target);
  changed_.notify_all();
  auto on_grown = on_grown_;
  lock.unlock();
  ::unlink(error_path.c_str());
  writeStatus(spec.generation, LinkState::kConnected, "");
  log::info(kLog, "grown to " + std::to_string(target) + " bytes (generation " + std::to_string(spec.generation) + ")");
  if (on_grown) on_grown();
  lock.lock();
}

void NbdConnectionPool::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    changed_.notify_all();
  }
  if (reconnector_.joinable()) reconnector_.join();
  std::lock_guard lock(mu_);
  current_.reset();
}

std::shared_ptr<NbdConnectionPool::Generation> NbdConnectionPool::current() {
  std::lock_guard lock(mu_);
  return current_;
}

std::shared_ptr<NbdConnectionPool::Generation> NbdConnectionPool::connectedBy(
    std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mu_);
  changed_.wait_until(lock, deadline, [&] { return stopping_ || (current_ && !current_->broken.load()); });
  if (stopping_ || !current_ || current_->broken.load()) return nullptr;
  return current_;
}

void NbdConnectionPool::markBroken(Generation& generation) {
  if (generation.broken.exchange(true)) return;
  log::warn(kLog, "connection lost (generation " + std::to_string(generation.id) + "); I/O waits up to " +
                      std::to_string(io_wait_.count()) + " ms for a reconnect or retarget, then fails with EIO");
  // Reported before the failing request returns, so whoever saw the EIO also sees why.
  writeStatus(generation.id, LinkState::kDisconnected, "connection lost");
  std::lock_guard lock(mu_);
  changed_.notify_all();
}

int NbdConnectionPool::onFailure(Generation& generation, nbd_handle* handle) {
  int err = nbd_get_errno();
  if (nbd_aio_is_ready(handle) != 1) {
    markBroken(generation);
    return EIO;
  }
  // The server answered with an error: pass on what it said, EIO when unsure.
  return err == EINVAL || err == ENOSPC || err == EPERM || err == EOPNOTSUPP ? err : EIO;
}

template <typename Op>
int NbdConnectionPool::withHandle(Op op) {
  const auto deadline = std::chrono::steady_clock::now() + io_wait_;
  for (;;) {
    std::shared_ptr<Generation> g = connectedBy(deadline);
    if (!g) return EIO;
    size_t n = g->connections.size();
    size_t start = g->next.fetch_add(1) % n;
    Connection* chosen = nullptr;
    std::unique_lock<std::mutex> lock;
    for (size_t i = 0; i < n && chosen == nullptr; ++i) {
      Connection* c = g->connections[(start + i) % n].get();
      std::unique_lock<std::mutex> attempt(c->mu, std::try_to_lock);
      if (attempt.owns_lock()) {
        chosen = c;
        lock = std::move(attempt);
      }
    }
    if (chosen == nullptr) {
      chosen = g->connections[start].get();
      lock = std::unique_lock<std::mutex>(chosen->mu);
    }
    if (g->broken.load()) continue;  // lost while this request waited for a handle: not sent
    if (op(chosen->handle, *g) != -1) return 0;
    int err = onFailure(*g, chosen->handle);
    if (!g->broken.load()) return err;  // the server answered with an error
    // The connection was lost with the request in flight: send it again on the next one.
  }
}

int NbdConnectionPool::pread(void* buf, size_t count, uint64_t offset) {
  return withHandle([&](nbd_handle* h, Generation&) { return nbd_pread(h, buf, count, offset, 0); });
}

int NbdConnectionPool::pwrite(const void* buf, size_t count, uint64_t offset) {
  return withHandle([&](nbd_handle* h, Generation&) { return nbd_pwrite(h, buf, count, offset, 0); });
}

int NbdConnectionPool::flush() {
  const auto deadline = std::chrono::steady_clock::now() + io_wait_;
  for (;;) {
    std::shared_ptr<Generation> g = connectedBy(deadline);
    if (!g) return EIO;
    bool lost = false;
    for (auto& c : g->connections) {
      std::lock_guard lock(c->mu);
      if (g->broken.load()) {
        lost = true;
        break;
      }
      if (nbd_flush(c->handle, 0) == -1) {
        int err = onFailure(*g, c->handle);
        if (!g->broken.load()) return err;
        lost = true;
        break;
      }
    }
    if (!lost) return 0;
    // Lost part-way: flush every connection of the next generation.
  }
}

int NbdConnectionPool::zero(uint64_t offset, uint64_t length, bool keep_allocated) {
  while (length > 0) {
    uint64_t piece = std::min(length, kMaxZeroChunk);
    int rc = withHandle([&](nbd_handle* h, Generation& g) {
      if (g.can_zero) return nbd_zero(h, piece, offset, keep_allocated ? LIBNBD_CMD_FLAG_NO_HOLE : 0);
      // No WRITE_ZEROES on this server: write zero buffers.
      static const std::vector<char> zeroes(1 << 20, 0);
      for (uint64_t done = 0; done < piece;) {
        uint64_t n = std::min<uint64_t>(piece - done, zeroes.size());
        if (nbd_pwrite(h, zeroes.data(), n, offset + done, 0) == -1) return -1;
        done += n;
      }
      return 0;
    });
    if (rc != 0) return rc;
    offset += piece;
    length -= piece;
  }
  return 0;
}

void NbdConnectionPool::writeStatus(uint64_t generation, LinkState state, const std::string& error) {
  Status s =
      writeFileAtomically(dir_ + "/" + std::string(kStatusFile), encodeStatus({generation, state, error}));
  if (!s.isOk()) log::error(kLog, "status file: " + s.toString());
}

void NbdConnectionPool::reconnectLoop() {
  auto backoff = std::chrono::milliseconds(50);
  std::unique_lock lock(mu_);
  for (;;) {
    changed_.wait(lock, [&] {
      return stopping_ || retarget_requested_ || grow_requested_ || !current_ || current_->broken.load();
    });
    if (stopping_) return;
    if (grow_requested_ && !retarget_requested_ && current_ && !current_->broken.load()) {
      growLocked(lock);
      continue;
    }
    if (retarget_requested_) {
      retarget_requested_ = false;
      lock.unlock();
      auto text = readWholeFile(dir_ + "/" + std::string(kSpecFile));
      Result<AttachmentSpecFile> spec =
          text.isOk() ? decodeSpec(*text) : Result<AttachmentSpecFile>(text.status());
      lock.lock();
      if (!spec.isOk()) {
        log::error(kLog, "retarget: bad spec file, keeping " + spec_.endpoint.describe() + ": " +
                             spec.status().toString());
        continue;
      }
      if (spec->size_bytes != size_bytes_) {
        log::error(kLog, "retarget: the spec changed the size; ignored");
        continue;
      }
      log::info(kLog, "retarget to " + spec->endpoint.describe() + " (generation " +
                          std::to_string(spec->generation) + ")");
      spec_ = *spec;
      current_.reset();  // nothing more goes to the old endpoint
      backoff = std::chrono::milliseconds(50);
    }
    AttachmentSpecFile spec = spec_;
    std::shared_ptr<Generation> old = std::move(current_);
    lock.unlock();
    old.reset();  // waits for nothing: in-flight requests hold their own reference
    writeStatus(spec.generation, LinkState::kDisconnected, "reconnecting to " + spec.endpoint.describe());
    auto generation = connect(spec);
    lock.lock();
    if (generation.isOk() && !retarget_requested_ && !stopping_) {
      current_ = std::move(generation).value();
      changed_.notify_all();  // requests waiting for a connected generation
      backoff = std::chrono::milliseconds(50);
      lock.unlock();
      log::info(kLog, "connected to " + spec.endpoint.describe());
      writeStatus(spec.generation, LinkState::kConnected, "");
      lock.lock();
      continue;
    }
    if (!generation.isOk()) {
      log::warn(kLog, generation.status().toString());
      lock.unlock();
      writeStatus(spec.generation, LinkState::kDisconnected, generation.status().message());
      lock.lock();
      changed_.wait_for(lock, backoff, [&] { return stopping_ || retarget_requested_; });
      backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
    }
  }
}

}  // namespace tandem::attach
