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

// What the server offers every export on this connection, and what the client negotiated so
// far (handleOption updates the latter).
struct NegotiationSettings {
  bool no_zeroes = false;       // the client set NBD_FLAG_C_NO_ZEROES
  bool multi_conn = false;      // advertise NBD_FLAG_CAN_MULTI_CONN
  BlockSizeConstraints block_sizes;
  // Negotiated: NBD_OPT_STRUCTURED_REPLY was acknowledged.
  bool structured_replies = false;
  // Negotiated: the last SET_META_CONTEXT selected base:allocation for this export.
  std::string allocation_context_export;
  bool allocation_context = false;
};

// The id of the base:allocation context in META_CONTEXT replies and BLOCK_STATUS chunks.
inline constexpr uint32_t kBaseAllocationContextId = 1;

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
  // kTransmission: replies to READ and BLOCK_STATUS are structured; BLOCK_STATUS is allowed
  // (base:allocation was set for this very export).
  bool structured_replies = false;
  bool block_status = false;
};

// Handles one option whose data was read completely. Implements EXPORT_NAME, ABORT, LIST,
// INFO, GO, STRUCTURED_REPLY and LIST/SET_META_CONTEXT (the one context base:allocation; a
// meta context option before STRUCTURED_REPLY is NBD_REP_ERR_INVALID); refuses every other
// option with NBD_REP_ERR_UNSUP; malformed data gives NBD_REP_ERR_INVALID, an unknown export
// NBD_REP_ERR_UNKNOWN (or a close for EXPORT_NAME).
OptionOutcome handleOption(OptionType option, std::span<const std::byte> data, ExportRegistry& registry,
                           NegotiationSettings& settings);

}  // namespace tandem::nbd
