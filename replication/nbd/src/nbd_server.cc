// NbdServerImpl: listeners, one accept thread (poll on the listeners and an eventfd used to
// wake it for stop()), and one thread per client running a Connection.
//
// A client's socket is closed only under mu_, by its own thread when it finishes, so that
// disconnectExport()/stop() never shut down a descriptor number that was reused.
#include <algorithm>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <list>
#include <mutex>
#include <thread>

#include "connection.h"
#include "socket_io.h"
#include "tandem/common/log.h"
#include "tandem/nbd/nbd_server.h"

namespace tandem::nbd {
namespace {

constexpr std::string_view kLog = "nbd";

class NbdServerImpl final : public NbdServer {
 public:
  NbdServerImpl(const ServerOptions& options, ExportRegistry& registry, int tcp_fd, uint16_t tcp_port, int unix_fd,
                int wake_fd)
      : options_(options),
        registry_(registry),
        tcp_fd_(tcp_fd),
        tcp_port_(tcp_port),
        unix_fd_(unix_fd),
        wake_fd_(wake_fd) {
    config_.multi_conn = options.advertise_multi_conn;
    config_.requests_in_flight = std::max<uint32_t>(1, options.requests_in_flight);
    config_.block_sizes.minimum = 1;
    config_.block_sizes.maximum = options.max_payload_bytes;
    config_.block_sizes.preferred = std::min(options.preferred_block_size, options.max_payload_bytes);
    accept_thread_ = std::thread([this] { acceptLoop(); });
  }
  ~NbdServerImpl() override { stop(); }

  uint16_t tcpPort() const override { return tcp_port_; }

  size_t connectionCount() const override {
    std::lock_guard lock(mu_);
    size_t n = 0;
    for (const auto& client : clients_) n += client->fd >= 0 ? 1 : 0;
    return n;
  }

  void disconnectExport(const std::string& name) override {
    std::lock_guard lock(mu_);
    for (const auto& client : clients_) {
      if (client->fd >= 0 && client->export_name == name) ::shutdown(client->fd, SHUT_RDWR);
    }
  }

  void stop() override {
    {
      std::lock_guard lock(mu_);
      if (stopped_) return;
      stopped_ = true;
    }
    uint64_t one = 1;
    [[maybe_unused]] ssize_t ignored = ::write(wake_fd_, &one, sizeof(one));
    accept_thread_.join();
    if (tcp_fd_ >= 0) ::close(tcp_fd_);
    if (unix_fd_ >= 0) {
      ::close(unix_fd_);
      ::unlink(options_.unix_socket_path.c_str());
    }
    ::close(wake_fd_);
    std::list<std::shared_ptr<Client>> clients;
    {
      std::lock_guard lock(mu_);
      for (const auto& client : clients_) {
        if (client->fd >= 0) ::shutdown(client->fd, SHUT_RDWR);
      }
      clients.swap(clients_);
    }
    for (auto& client : clients) client->thread.join();
  }

 private:
  struct Client {
    int fd = -1;               // -1 once closed; guarded by mu_
    std::string export_name;   // guarded by mu_
    std::thread thread;
  };

  void acceptLoop() {
    for (;;) {
      std::array<pollfd, 3> fds{pollfd{wake_fd_, POLLIN, 0}, pollfd{tcp_fd_, POLLIN, 0},
                                pollfd{unix_fd_, POLLIN, 0}};
      if (::poll(fds.data(), fds.size(), -1) < 0) {
        if (errno == EINTR) continue;
        log::error(kLog, Status::fromErrno(errno, "poll listeners").toString());
        return;
      }
      if (fds[0].revents != 0) return;
      for (size_t i = 1; i < fds.size(); ++i) {
        if (fds[i].fd >= 0 && (fds[i].revents & POLLIN) != 0) acceptOne(fds[i].fd, i == 1);
      }
    }
  }

  void acceptOne(int listen_fd, bool tcp) {
    int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED) {
        log::warn(kLog, Status::fromErrno(errno, "accept").toString());
      }
      return;
    }
    if (tcp) {
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    reapFinished();
    std::lock_guard lock(mu_);
    if (stopped_) {
      ::close(fd);
      return;
    }
    auto client = std::make_shared<Client>();
    client->fd = fd;
    clients_.push_back(client);
    client->thread = std::thread([this, client] { serve(client); });
  }

  void serve(const std::shared_ptr<Client>& client) {
    int fd;
    {
      std::lock_guard lock(mu_);
      fd = client->fd;
    }
    // Recording the export and re-checking the registry under mu_ closes the race with
    // "registry.remove(name); disconnectExport(name)": either disconnectExport sees the name,
    // or this check sees the export gone.
    Connection connection(fd, registry_, config_,
                          [this, client](const std::string& name, const std::shared_ptr<devices::BlockDevice>& device) {
                            std::lock_guard lock(mu_);
                            client->export_name = name;
                            return registry_.find(name) == device;
                          });
    connection.run();
    std::lock_guard lock(mu_);
    ::close(client->fd);
    client->fd = -1;
  }

  // Joins the threads of clients that have finished (their fd is closed).
  void reapFinished() {
    std::list<std::shared_ptr<Client>> finished;
    {
      std::lock_guard lock(mu_);
      for (auto it = clients_.begin(); it != clients_.end();) {
        if ((*it)->fd < 0) {
          finished.push_back(*it);
          it = clients_.erase(it);
        } else {
          ++it;
        }
      }
    }
    for (auto& client : finished) client->thread.join();
  }

  const ServerOptions options_;
  ExportRegistry& registry_;
  ConnectionConfig config_;
  const int tcp_fd_;
  const uint16_t tcp_port_;
  const int unix_fd_;
  const int wake_fd_;
  std::thread accept_thread_;
  mutable std::mutex mu_;
  bool stopped_ = false;
  std::list<std::shared_ptr<Client>> clients_;
};

}  // namespace

Result<std::unique_ptr<NbdServer>> NbdServer::start(const ServerOptions& options, ExportRegistry& registry) {
  if (!options.listen_tcp && options.unix_socket_path.empty()) {
    return Status(ErrorCode::kInvalidArgument, "NBD server needs a TCP listener or a UNIX socket path");
  }
  if (options.max_payload_bytes == 0) {
    return Status(ErrorCode::kInvalidArgument, "max_payload_bytes must be positive");
  }
  int tcp_fd = -1, unix_fd = -1;
  uint16_t port = 0;
  auto cleanup = [&] {
    if (tcp_fd >= 0) ::close(tcp_fd);
    if (unix_fd >= 0) ::close(unix_fd);
  };
  if (options.listen_tcp) {
    Result<int> fd = listenTcp(options.tcp_bind_address, options.tcp_port);
    if (!fd.isOk()) return fd.status();
    tcp_fd = *fd;
    Result<uint16_t> bound = boundPort(tcp_fd);
    if (!bound.isOk()) {
      cleanup();
      return bound.status();
    }
    port = *bound;
  }
  if (!options.unix_socket_path.empty()) {
    Result<int> fd = listenUnix(options.unix_socket_path);
    if (!fd.isOk()) {
      cleanup();
      return fd.status();
    }
    unix_fd = *fd;
  }
  int wake_fd = ::eventfd(0, EFD_CLOEXEC);
  if (wake_fd < 0) {
    Status s = Status::fromErrno(errno, "eventfd");
    cleanup();
    return s;
  }
  log::info(kLog, "NBD server listening" +
                      (tcp_fd >= 0 ? " on tcp " + options.tcp_bind_address + ":" + std::to_string(port) : "") +
                      (unix_fd >= 0 ? " on unix " + options.unix_socket_path : ""));
  return std::unique_ptr<NbdServer>(new NbdServerImpl(options, registry, tcp_fd, port, unix_fd, wake_fd));
}

}  // namespace tandem::nbd
