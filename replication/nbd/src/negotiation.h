// Option haggling as a pure function: one option request in, the reply bytes and what the
// connection does next out. No sockets; the connection (connection.cc) does the I/O.
// Thread-safety: handleOption() is reentrant; it calls the registry, which is thread-safe.
#pragma once

#include <memory>
#include <span>
#include <string>

#include "tandem/devices/block_device.h"
#include "tandem/nbd/nbd_server.h"
#include "tandem/nbd/protocol.h"

namespace tandem::nbd {

// What the server offers every export on this connection.
struct NegotiationSettings {
  bool no_zeroes = false;       // the client set NBD_FLAG_C_NO_ZEROES
  bool multi_conn = false;      // advertise NBD_FLAG_CAN_MULTI_CONN
  BlockSizeConstraints block_sizes;
};

// The transmission flags sent for an export.
uint16_t transmissionFlags(const NegotiationSettings& settings);

struct OptionOutcome {
  enum class Next {
    kContinue,      // read the next option
    kTransmission,  // `reply` ends the handshake; serve `device` as `export_name`
    kClose,         // send `reply` (may be empty), then close the connection
  };
  Bytes reply;
  Next next = Next::kContinue;
  std::string export_name;
  std::shared_ptr<devices::BlockDevice> device;
};

// Handles one option whose data was read completely. Implements EXPORT_NAME, ABORT, LIST,
// INFO, GO; refuses every other option with NBD_REP_ERR_UNSUP; malformed data gives
// NBD_REP_ERR_INVALID, an unknown export NBD_REP_ERR_UNKNOWN (or a close for EXPORT_NAME).
OptionOutcome handleOption(OptionType option, std::span<const std::byte> data, ExportRegistry& registry,
                           const NegotiationSettings& settings);

}  // namespace tandem::nbd
