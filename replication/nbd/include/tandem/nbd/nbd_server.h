// NbdServer: exports BlockDevices over the NBD protocol (fixed newstyle handshake), on TCP
// and/or a UNIX socket. See docs/nbd.md for what is implemented.
// Thread-safety: start() returns a running server; stop() is idempotent, closes every client
// and joins all threads. The registry must outlive the server and be thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tandem/common/status.h"
#include "tandem/devices/block_device.h"

namespace tandem::nbd {

// Where the server finds exports by name. Called from connection threads.
class ExportRegistry {
 public:
  virtual ~ExportRegistry() = default;
  // The device for `name`, or null when there is no such export.
  virtual std::shared_ptr<devices::BlockDevice> find(const std::string& name) = 0;
  virtual std::vector<std::string> names() = 0;
};

struct ServerOptions {
  std::string tcp_bind_address = "127.0.0.1";
  uint16_t tcp_port = 0;          // 0: any free port (read back with tcpPort()); -1 not possible
  bool listen_tcp = true;
  std::string unix_socket_path;   // empty: no UNIX socket
  uint32_t max_payload_bytes = 32u << 20;
};

class NbdServer {
 public:
  virtual ~NbdServer() = default;
  static Result<std::unique_ptr<NbdServer>> start(const ServerOptions& options, ExportRegistry& registry);
  virtual uint16_t tcpPort() const = 0;
  // Closes every connection currently using export `name` (after the export was removed).
  virtual void disconnectExport(const std::string& name) = 0;
  virtual void stop() = 0;
};

}  // namespace tandem::nbd
