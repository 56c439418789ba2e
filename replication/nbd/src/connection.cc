#include "connection.h"

#include <array>

#include "request_handler.h"
#include "socket_io.h"
#include "tandem/common/log.h"

namespace tandem::nbd {
namespace {
constexpr std::string_view kLog = "nbd";
}

void Connection::run() {
  OptionOutcome outcome = negotiate();
  if (outcome.next != OptionOutcome::Next::kTransmission || !outcome.device) return;
  if (on_export_ && !on_export_(outcome.export_name, outcome.device)) {
    log::info(kLog, "export '" + outcome.export_name + "' was removed during the handshake; closing");
    return;
  }
  log::debug(kLog, "client entered transmission on export '" + outcome.export_name + "'");
  transmit(*outcome.device, outcome.export_name);
}

OptionOutcome Connection::negotiate() {
  OptionOutcome end;
  end.next = OptionOutcome::Next::kClose;
  Bytes greeting = encodeGreeting(kFlagFixedNewstyle | kFlagNoZeroes);
  if (!writeFull(fd_, greeting).isOk()) return end;

  std::array<std::byte, kClientFlagsSize> flag_bytes;
  if (!readFull(fd_, flag_bytes).isOk()) return end;
  uint32_t client_flags = decodeClientFlags(flag_bytes).value();
  if ((client_flags & ~(kClientFlagFixedNewstyle | kClientFlagNoZeroes)) != 0) {
    log::warn(kLog, "client sent unknown handshake flags " + std::to_string(client_flags) + "; closing");
    return end;
  }
  NegotiationSettings settings;
  settings.no_zeroes = (client_flags & kClientFlagNoZeroes) != 0;
  settings.multi_conn = config_.multi_conn;
  settings.block_sizes = config_.block_sizes;

  Bytes data;
  for (;;) {
    std::array<std::byte, kOptionHeaderSize> header_bytes;
    if (!readFull(fd_, header_bytes).isOk()) return end;
    Result<OptionHeader> header = decodeOptionHeader(header_bytes);
    if (!header.isOk()) {
      log::warn(kLog, header.status().toString() + "; closing");
      return end;
    }
    if (header->length > config_.max_option_bytes) {
      log::warn(kLog, "option data of " + std::to_string(header->length) + " bytes is over the limit; closing");
      return end;
    }
    data.resize(header->length);
    if (!readFull(fd_, data).isOk()) return end;
    log::debug(kLog, "option " + std::string(optionName(header->option)));
    OptionOutcome outcome = handleOption(header->option, data, registry_, settings);
    if (!outcome.reply.empty() && !writeFull(fd_, outcome.reply).isOk()) return end;
    if (outcome.next != OptionOutcome::Next::kContinue) return outcome;
  }
}

void Connection::transmit(devices::BlockDevice& device, const std::string& export_name) {
  TransmissionLimits limits{device.sizeBytes(), config_.block_sizes.maximum};
  Bytes buffer;
  std::array<std::byte, kRequestHeaderSize> header_bytes;
  std::array<std::byte, kSimpleReplyHeaderSize> reply_bytes;
  for (;;) {
    if (!readFull(fd_, header_bytes).isOk()) return;  // closed or shut down
    Result<Request> request = decodeRequestHeader(header_bytes);
    if (!request.isOk()) {
      log::warn(kLog, export_name + ": " + request.status().toString() + "; closing");
      return;
    }
    if (request->type == Command::kDisc) return;  // every earlier request is already answered
    RequestCheck check = checkRequest(*request, limits);
    if (check.action == RequestCheck::Action::kDisconnect) {
      log::warn(kLog, export_name + ": " + std::string(commandName(request->type)) + " payload of " +
                          std::to_string(request->length) + " bytes is over the limit; closing");
      return;
    }
    uint32_t payload = payloadLength(*request);
    uint32_t needed = request->type == Command::kRead || payload > 0 ? request->length : 0;
    if (check.action == RequestCheck::Action::kReject) needed = 0;
    if (buffer.size() < needed) buffer.resize(needed);

    NbdError error = check.error;
    if (check.action == RequestCheck::Action::kReject) {
      if (payload > 0 && !discardBytes(fd_, payload).isOk()) return;
    } else {
      if (payload > 0 && !readFull(fd_, std::span(buffer.data(), payload)).isOk()) return;
      error = executeRequest(device, *request, buffer, buffer);
    }
    if (error != NbdError::kOk) {
      log::debug(kLog, export_name + ": " + std::string(commandName(request->type)) + " failed with NBD error " +
                           std::to_string(static_cast<uint32_t>(error)));
    }
    encodeSimpleReplyHeader(SimpleReply{error, request->handle}, reply_bytes);
    std::span<const std::byte> data;
    if (request->type == Command::kRead && error == NbdError::kOk) data = std::span(buffer.data(), request->length);
    if (!writeFull(fd_, reply_bytes, data).isOk()) return;
  }
}

}  // namespace tandem::nbd
