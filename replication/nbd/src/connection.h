// Connection: one client of the NBD server, from the greeting to the end of transmission,
// on a connected blocking socket. In transmission the connection's thread reads requests and
// hands them to `requests_in_flight` worker threads; each reply (header and read data) is
// written whole under a lock, in completion order. DISC, a protocol error or a dead socket
// stops reading; requests already read are completed (and answered if the socket still
// works) before run() returns. With requests_in_flight == 1 requests run strictly in order.
// Thread-safety: run() is called once, on the connection's own thread. The socket may be
// shut down from another thread (disconnectExport/stop); run() then returns.
#pragma once

#include <functional>
#include <string>

#include "negotiation.h"
#include "tandem/nbd/nbd_server.h"

namespace tandem::nbd {

struct ConnectionConfig {
  bool multi_conn = false;
  BlockSizeConstraints block_sizes;     // maximum = the largest READ/WRITE payload
  uint32_t max_option_bytes = 64 * 1024;  // larger option data: hard disconnect
  uint32_t requests_in_flight = 1;
};

class Connection {
 public:
  // Called with the export name and device when the client enters transmission; returning
  // false ends the session (the export went away meanwhile).
  using OnExport = std::function<bool(const std::string&, const std::shared_ptr<devices::BlockDevice>&)>;

  Connection(int fd, ExportRegistry& registry, ConnectionConfig config, OnExport on_export)
      : fd_(fd), registry_(registry), config_(config), on_export_(std::move(on_export)) {}

  // Serves the client until it disconnects, violates the protocol or the socket is shut
  // down. Does not close the socket (the owner does). Errors are logged, not returned.
  void run();

 private:
  // Returns the chosen export, or an empty outcome device when the session ends here.
  OptionOutcome negotiate();
  // Serves `device` as negotiated (export name, structured replies, BLOCK_STATUS).
  void transmit(devices::BlockDevice& device, const OptionOutcome& negotiated);

  int fd_;
  ExportRegistry& registry_;
  ConnectionConfig config_;
  OnExport on_export_;
};

}  // namespace tandem::nbd
