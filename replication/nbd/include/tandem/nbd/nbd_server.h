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

// Where the server finds exports by name. Called from connection threads, possibly while the
// server holds its internal lock: implementations must not call back into the server.
class ExportRegistry {
 public:
  virtual ~ExportRegistry() = default;
  // The device for `name`, or null when there is no such export.
  virtual std::shared_ptr<devices::BlockDevice> find(const std::string& name) = 0;
  virtual std::vector<std::string> names() = 0;
  // Whether `name` is an export, without using its device (an export whose device is opened
  // on demand is not opened by this).
  virtual bool contains(const std::string& name) { return find(name) != nullptr; }
};

struct ServerOptions {
  std::string tcp_bind_address = "127.0.0.1";
  uint16_t tcp_port = 0;          // 0: any free port (read back with tcpPort()); -1 not possible
  bool listen_tcp = true;
  std::string unix_socket_path;   // empty: no UNIX socket
  // Largest READ/WRITE length accepted; advertised as the maximum block size. A longer READ
  // gets EINVAL, a longer WRITE a hard disconnect (its payload is not drained).
  uint32_t max_payload_bytes = 32u << 20;
  // Advertised preferred block size (capped at max_payload_bytes). Minimum is always 1.
  uint32_t preferred_block_size = 4096;
  // Advertise NBD_FLAG_CAN_MULTI_CONN. Only correct when every exported device makes a
  // flush/FUA on one connection durable for writes acknowledged on any connection.
  bool advertise_multi_conn = false;
  // Requests of one connection executed at the same time (replies may come out of order, as
  // the protocol allows). 1 processes strictly in order on the connection's thread, which is
  // fastest for local devices (no hand-off; measured in bench/nbd). Several pay off for
  // replicated devices, where each write waits for its peers: tandem-node uses 8.
  uint32_t requests_in_flight = 1;
};

class NbdServer {
 public:
  virtual ~NbdServer() = default;
  // Binds the listeners and starts accepting. Fails (kInvalidArgument) when no listener is
  // configured or an address/path is malformed, with the bind error when a bind fails.
  static Result<std::unique_ptr<NbdServer>> start(const ServerOptions& options, ExportRegistry& registry);
  // The bound TCP port (the kernel's choice when options.tcp_port was 0); 0 without TCP.
  virtual uint16_t tcpPort() const = 0;
  // Number of client connections currently open (handshake or transmission).
  virtual size_t connectionCount() const = 0;
  // Closes every connection currently using export `name` (after the export was removed).
  // Remove the export from the registry first, then call this: a client still in the
  // handshake then either fails to find the export or is closed as it enters transmission.
  virtual void disconnectExport(const std::string& name) = 0;
  // Closes the listeners (and removes the UNIX socket file), shuts down every connection and
  // joins all threads. Idempotent; also done by the destructor.
  virtual void stop() = 0;
};

}  // namespace tandem::nbd
