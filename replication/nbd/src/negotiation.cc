#include "negotiation.h"

#include <algorithm>

namespace tandem::nbd {
namespace {

std::span<const std::byte> asBytes(std::string_view s) {
  return std::span(reinterpret_cast<const std::byte*>(s.data()), s.size());
}

void append(Bytes& out, const Bytes& more) { out.insert(out.end(), more.begin(), more.end()); }

OptionOutcome errorReply(OptionType option, ReplyType type, std::string_view message) {
  OptionOutcome outcome;
  outcome.reply = encodeOptionReply(option, type, asBytes(message));
  return outcome;
}

// The preferred size may not exceed the maximum (tiny max payloads in tests).
BlockSizeConstraints effectiveBlockSizes(const BlockSizeConstraints& s) {
  BlockSizeConstraints out = s;
  out.preferred = std::min(out.preferred, out.maximum);
  return out;
}

// Enters transmission on `name` with what was negotiated for it.
void enterTransmission(OptionOutcome& outcome, const std::string& name, const NegotiationSettings& settings) {
  outcome.next = OptionOutcome::Next::kTransmission;
  outcome.export_name = name;
  outcome.structured_replies = settings.structured_replies;
  outcome.block_status = settings.structured_replies && settings.allocation_context &&
                         settings.allocation_context_export == name;
}

// LIST_META_CONTEXT (which contexts match the queries) and SET_META_CONTEXT (select them).
OptionOutcome handleMetaContext(OptionType option, std::span<const std::byte> data, ExportRegistry& registry,
                                NegotiationSettings& settings) {
  if (!settings.structured_replies) {
    return errorReply(option, ReplyType::kErrInvalid, "meta contexts need NBD_OPT_STRUCTURED_REPLY first");
  }
  Result<MetaContextRequest> request = decodeMetaContextRequest(data);
  if (!request.isOk()) return errorReply(option, ReplyType::kErrInvalid, request.status().message());
  if (!registry.contains(request->export_name)) {
    return errorReply(option, ReplyType::kErrUnknown, "unknown export '" + request->export_name + "'");
  }
  const bool set = option == OptionType::kSetMetaContext;
  bool selected = false;
  for (const std::string& query : request->queries) {
    // LIST also takes the namespace alone ("base:"); SET only full context names.
    if (query == kBaseAllocation || (!set && query == "base:")) selected = true;
  }
  if (!set && request->queries.empty()) selected = true;  // LIST with no query: every context
  OptionOutcome outcome;
  if (selected) {
    append(outcome.reply, encodeOptionReply(option, ReplyType::kMetaContext,
                                            encodeMetaContextReplyData(kBaseAllocationContextId, kBaseAllocation)));
  }
  append(outcome.reply, encodeOptionReply(option, ReplyType::kAck, {}));
  if (set) {
    settings.allocation_context = selected;
    settings.allocation_context_export = request->export_name;
  }
  return outcome;
}

OptionOutcome handleInfoOrGo(OptionType option, std::span<const std::byte> data, ExportRegistry& registry,
                             const NegotiationSettings& settings) {
  Result<InfoRequest> request = decodeInfoRequest(data);
  if (!request.isOk()) return errorReply(option, ReplyType::kErrInvalid, request.status().message());
  std::shared_ptr<devices::BlockDevice> device = registry.find(request->export_name);
  if (!device) {
    return errorReply(option, ReplyType::kErrUnknown, "unknown export '" + request->export_name + "'");
  }
  OptionOutcome outcome;
  append(outcome.reply, encodeOptionReply(option, ReplyType::kInfo,
                                          encodeInfoExport(device->sizeBytes(), transmissionFlags(settings))));
  bool sent_name = false;
  for (InfoType requested : request->requests) {
    if (requested == InfoType::kName && !sent_name) {
      append(outcome.reply, encodeOptionReply(option, ReplyType::kInfo, encodeInfoName(request->export_name)));
      sent_name = true;
    }
    // DESCRIPTION: we have none, and unknown types are ignored, as the spec allows.
  }
  // Block sizes are always sent: a minimum of 1 never restricts a client that did not ask.
  append(outcome.reply, encodeOptionReply(option, ReplyType::kInfo,
                                          encodeInfoBlockSize(effectiveBlockSizes(settings.block_sizes))));
  append(outcome.reply, encodeOptionReply(option, ReplyType::kAck, {}));
  if (option == OptionType::kGo) {
    enterTransmission(outcome, request->export_name, settings);
    outcome.device = std::move(device);
  }
  return outcome;
}

}  // namespace

uint16_t transmissionFlags(const NegotiationSettings& settings) {
  uint16_t flags = kTransHasFlags | kTransSendFlush | kTransSendFua | kTransSendTrim | kTransSendWriteZeroes;
  if (settings.multi_conn) flags |= kTransCanMultiConn;
  return flags;
}

OptionOutcome handleOption(OptionType option, std::span<const std::byte> data, ExportRegistry& registry,
                           NegotiationSettings& settings) {
  switch (option) {
    case OptionType::kExportName: {
      OptionOutcome outcome;
      std::string name(reinterpret_cast<const char*>(data.data()), data.size());
      std::shared_ptr<devices::BlockDevice> device =
          data.size() <= kMaxStringBytes ? registry.find(name) : nullptr;
      if (!device) {  // no way to report an error: the spec mandates closing
        outcome.next = OptionOutcome::Next::kClose;
        return outcome;
      }
      outcome.reply = encodeExportNameReply(device->sizeBytes(), transmissionFlags(settings), settings.no_zeroes);
      enterTransmission(outcome, name, settings);
      outcome.device = std::move(device);
      return outcome;
    }
    case OptionType::kAbort: {
      OptionOutcome outcome;
      outcome.reply = encodeOptionReply(option, ReplyType::kAck, {});
      outcome.next = OptionOutcome::Next::kClose;
      return outcome;
    }
    case OptionType::kList: {
      if (!data.empty()) return errorReply(option, ReplyType::kErrInvalid, "NBD_OPT_LIST takes no data");
      OptionOutcome outcome;
      for (const std::string& name : registry.names()) {
        append(outcome.reply, encodeOptionReply(option, ReplyType::kServer, encodeServerReplyData(name)));
      }
      append(outcome.reply, encodeOptionReply(option, ReplyType::kAck, {}));
      return outcome;
    }
    case OptionType::kInfo:
    case OptionType::kGo:
      return handleInfoOrGo(option, data, registry, settings);
    case OptionType::kStartTls:
      return errorReply(option, ReplyType::kErrUnsup, "TLS is not supported by this server yet");
    case OptionType::kStructuredReply: {
      if (!data.empty()) return errorReply(option, ReplyType::kErrInvalid, "NBD_OPT_STRUCTURED_REPLY takes no data");
      settings.structured_replies = true;
      OptionOutcome outcome;
      outcome.reply = encodeOptionReply(option, ReplyType::kAck, {});
      return outcome;
    }
    case OptionType::kListMetaContext:
    case OptionType::kSetMetaContext:
      return handleMetaContext(option, data, registry, settings);
    case OptionType::kExtendedHeaders:
    default:
      return errorReply(option, ReplyType::kErrUnsup,
                        "option " + std::string(optionName(option)) + " (" +
                            std::to_string(static_cast<uint32_t>(option)) + ") is not supported");
  }
}

}  // namespace tandem::nbd
