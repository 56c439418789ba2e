#include "tandem/nbd/protocol.h"

#include <algorithm>

#include "wire_buffer.h"

namespace tandem::nbd {
namespace {

Status malformed(std::string_view what) {
  return Status(ErrorCode::kProtocol, "malformed NBD " + std::string(what));
}

bool containsNul(std::string_view s) { return s.find('\0') != std::string_view::npos; }

}  // namespace

std::string_view optionName(OptionType option) {
  switch (option) {
    case OptionType::kExportName: return "EXPORT_NAME";
    case OptionType::kAbort: return "ABORT";
    case OptionType::kList: return "LIST";
    case OptionType::kStartTls: return "STARTTLS";
    case OptionType::kInfo: return "INFO";
    case OptionType::kGo: return "GO";
    case OptionType::kStructuredReply: return "STRUCTURED_REPLY";
    case OptionType::kListMetaContext: return "LIST_META_CONTEXT";
    case OptionType::kSetMetaContext: return "SET_META_CONTEXT";
    case OptionType::kExtendedHeaders: return "EXTENDED_HEADERS";
  }
  return "UNKNOWN";
}

std::string_view commandName(Command command) {
  switch (command) {
    case Command::kRead: return "READ";
    case Command::kWrite: return "WRITE";
    case Command::kDisc: return "DISC";
    case Command::kFlush: return "FLUSH";
    case Command::kTrim: return "TRIM";
    case Command::kCache: return "CACHE";
    case Command::kWriteZeroes: return "WRITE_ZEROES";
    case Command::kBlockStatus: return "BLOCK_STATUS";
  }
  return "UNKNOWN";
}

NbdError nbdErrorFromStatus(const Status& status) {
  switch (status.code()) {
    case ErrorCode::kOk: return NbdError::kOk;
    case ErrorCode::kInvalidArgument: return NbdError::kInval;
    case ErrorCode::kNoSpace:
    case ErrorCode::kTooLarge: return NbdError::kNoSpc;
    case ErrorCode::kPermissionDenied: return NbdError::kPerm;
    default: return NbdError::kIo;
  }
}

// ---- Handshake ----

Bytes encodeGreeting(uint16_t handshake_flags) {
  Bytes out;
  ByteWriter w(out);
  w.u64(kNbdMagic);
  w.u64(kIHaveOptMagic);
  w.u16(handshake_flags);
  return out;
}

Result<uint16_t> decodeGreeting(std::span<const std::byte> bytes) {
  ByteReader r(bytes);
  uint64_t magic = 0, opt = 0;
  uint16_t flags = 0;
  if (bytes.size() != kGreetingSize || !r.u64(&magic) || !r.u64(&opt) || !r.u16(&flags)) {
    return malformed("greeting");
  }
  if (magic != kNbdMagic || opt != kIHaveOptMagic) return malformed("greeting magic");
  return flags;
}

Bytes encodeClientFlags(uint32_t flags) {
  Bytes out;
  ByteWriter(out).u32(flags);
  return out;
}

Result<uint32_t> decodeClientFlags(std::span<const std::byte> bytes) {
  uint32_t flags = 0;
  if (bytes.size() != kClientFlagsSize || !ByteReader(bytes).u32(&flags)) return malformed("client flags");
  return flags;
}

// ---- Options ----

Bytes encodeOption(OptionType option, std::span<const std::byte> data) {
  Bytes out;
  ByteWriter w(out);
  w.u64(kIHaveOptMagic);
  w.u32(static_cast<uint32_t>(option));
  w.u32(static_cast<uint32_t>(data.size()));
  w.bytes(data);
  return out;
}

Result<OptionHeader> decodeOptionHeader(std::span<const std::byte> bytes) {
  ByteReader r(bytes);
  uint64_t magic = 0;
  uint32_t option = 0, length = 0;
  if (bytes.size() != kOptionHeaderSize || !r.u64(&magic) || !r.u32(&option) || !r.u32(&length)) {
    return malformed("option header");
  }
  if (magic != kIHaveOptMagic) return malformed("option magic");
  return OptionHeader{static_cast<OptionType>(option), length};
}

Bytes encodeOptionReply(OptionType option, ReplyType type, std::span<const std::byte> data) {
  Bytes out;
  out.reserve(kOptionReplyHeaderSize + data.size());
  ByteWriter w(out);
  w.u64(kOptionReplyMagic);
  w.u32(static_cast<uint32_t>(option));
  w.u32(static_cast<uint32_t>(type));
  w.u32(static_cast<uint32_t>(data.size()));
  w.bytes(data);
  return out;
}

Result<OptionReplyHeader> decodeOptionReplyHeader(std::span<const std::byte> bytes) {
  ByteReader r(bytes);
  uint64_t magic = 0;
  uint32_t option = 0, type = 0, length = 0;
  if (bytes.size() != kOptionReplyHeaderSize || !r.u64(&magic) || !r.u32(&option) || !r.u32(&type) ||
      !r.u32(&length)) {
    return malformed("option reply header");
  }
  if (magic != kOptionReplyMagic) return malformed("option reply magic");
  return OptionReplyHeader{static_cast<OptionType>(option), static_cast<ReplyType>(type), length};
}

Bytes encodeInfoRequest(const InfoRequest& request) {
  Bytes out;
  ByteWriter w(out);
  w.u32(static_cast<uint32_t>(request.export_name.size()));
  w.text(request.export_name);
  w.u16(static_cast<uint16_t>(request.requests.size()));
  for (InfoType t : request.requests) w.u16(static_cast<uint16_t>(t));
  return out;
}

Result<InfoRequest> decodeInfoRequest(std::span<const std::byte> data) {
  ByteReader r(data);
  InfoRequest request;
  uint32_t name_length = 0;
  uint16_t count = 0;
  if (!r.u32(&name_length) || name_length > kMaxStringBytes || !r.text(name_length, &request.export_name) ||
      !r.u16(&count)) {
    return malformed("info request");
  }
  if (containsNul(request.export_name)) return malformed("export name (contains NUL)");
  if (r.remaining() != size_t{count} * 2) return malformed("info request (count does not match length)");
  request.requests.reserve(count);
  for (uint16_t i = 0; i < count; ++i) {
    uint16_t t = 0;
    r.u16(&t);
    request.requests.push_back(static_cast<InfoType>(t));
  }
  return request;
}

Result<MetaContextRequest> decodeMetaContextRequest(std::span<const std::byte> data) {
  ByteReader r(data);
  MetaContextRequest request;
  uint32_t name_length = 0, count = 0;
  if (!r.u32(&name_length) || name_length > kMaxStringBytes || !r.text(name_length, &request.export_name) ||
      !r.u32(&count)) {
    return malformed("meta context request");
  }
  // Each query needs at least its 4-byte length: bounds the count before reserving.
  if (count > r.remaining() / 4) return malformed("meta context request (count too large)");
  for (uint32_t i = 0; i < count; ++i) {
    uint32_t length = 0;
    std::string query;
    if (!r.u32(&length) || length > kMaxStringBytes || !r.text(length, &query)) {
      return malformed("meta context query");
    }
    request.queries.push_back(std::move(query));
  }
  if (r.remaining() != 0) return malformed("meta context request (trailing bytes)");
  return request;
}

Bytes encodeServerReplyData(std::string_view export_name, std::string_view description) {
  Bytes out;
  ByteWriter w(out);
  w.u32(static_cast<uint32_t>(export_name.size()));
  w.text(export_name);
  w.text(description);
  return out;
}

Result<ServerReplyData> decodeServerReplyData(std::span<const std::byte> data) {
  ByteReader r(data);
  ServerReplyData reply;
  uint32_t name_length = 0;
  if (!r.u32(&name_length) || name_length > kMaxStringBytes || !r.text(name_length, &reply.export_name) ||
      r.remaining() > kMaxStringBytes || !r.text(r.remaining(), &reply.description)) {
    return malformed("server reply");
  }
  return reply;
}

Bytes encodeInfoExport(uint64_t size_bytes, uint16_t transmission_flags) {
  Bytes out;
  ByteWriter w(out);
  w.u16(static_cast<uint16_t>(InfoType::kExport));
  w.u64(size_bytes);
  w.u16(transmission_flags);
  return out;
}

Bytes encodeInfoName(std::string_view name) {
  Bytes out;
  ByteWriter w(out);
  w.u16(static_cast<uint16_t>(InfoType::kName));
  w.text(name);
  return out;
}

Bytes encodeInfoDescription(std::string_view description) {
  Bytes out;
  ByteWriter w(out);
  w.u16(static_cast<uint16_t>(InfoType::kDescription));
  w.text(description);
  return out;
}

Bytes encodeInfoBlockSize(const BlockSizeConstraints& sizes) {
  Bytes out;
  ByteWriter w(out);
  w.u16(static_cast<uint16_t>(InfoType::kBlockSize));
  w.u32(sizes.minimum);
  w.u32(sizes.preferred);
  w.u32(sizes.maximum);
  return out;
}

Result<InfoReply> decodeInfoReply(std::span<const std::byte> data) {
  ByteReader r(data);
  InfoReply reply;
  uint16_t type = 0;
  if (!r.u16(&type)) return malformed("info reply");
  reply.type = static_cast<InfoType>(type);
  switch (reply.type) {
    case InfoType::kExport:
      if (r.remaining() != 10 || !r.u64(&reply.size_bytes) || !r.u16(&reply.transmission_flags)) {
        return malformed("NBD_INFO_EXPORT");
      }
      break;
    case InfoType::kName:
    case InfoType::kDescription:
      if (r.remaining() > kMaxStringBytes || !r.text(r.remaining(), &reply.text)) {
        return malformed("NBD_INFO_NAME/DESCRIPTION");
      }
      break;
    case InfoType::kBlockSize:
      if (r.remaining() != 12 || !r.u32(&reply.block_sizes.minimum) || !r.u32(&reply.block_sizes.preferred) ||
          !r.u32(&reply.block_sizes.maximum)) {
        return malformed("NBD_INFO_BLOCK_SIZE");
      }
      break;
  }
  return reply;
}

Bytes encodeExportNameReply(uint64_t size_bytes, uint16_t transmission_flags, bool no_zeroes) {
  Bytes out;
  ByteWriter w(out);
  w.u64(size_bytes);
  w.u16(transmission_flags);
  if (!no_zeroes) w.zeroes(kExportNameReplyZeroes);
  return out;
}

Result<ExportNameReply> decodeExportNameReply(std::span<const std::byte> bytes) {
  if (bytes.size() != 10 && bytes.size() != 10 + kExportNameReplyZeroes) return malformed("export name reply");
  ByteReader r(bytes);
  ExportNameReply reply;
  r.u64(&reply.size_bytes);
  r.u16(&reply.transmission_flags);
  return reply;
}

// ---- Transmission ----

Bytes encodeRequestHeader(const Request& request) {
  Bytes out;
  out.reserve(kRequestHeaderSize);
  ByteWriter w(out);
  w.u32(kRequestMagic);
  w.u16(request.flags);
  w.u16(static_cast<uint16_t>(request.type));
  w.u64(request.handle);
  w.u64(request.offset);
  w.u32(request.length);
  return out;
}

Result<Request> decodeRequestHeader(std::span<const std::byte> bytes) {
  ByteReader r(bytes);
  uint32_t magic = 0;
  uint16_t type = 0;
  Request request;
  if (bytes.size() != kRequestHeaderSize || !r.u32(&magic) || !r.u16(&request.flags) || !r.u16(&type) ||
      !r.u64(&request.handle) || !r.u64(&request.offset) || !r.u32(&request.length)) {
    return malformed("request header");
  }
  if (magic != kRequestMagic) return malformed("request magic");
  request.type = static_cast<Command>(type);
  return request;
}

void encodeSimpleReplyHeader(const SimpleReply& reply, std::span<std::byte, kSimpleReplyHeaderSize> out) {
  Bytes tmp;
  tmp.reserve(kSimpleReplyHeaderSize);
  ByteWriter w(tmp);
  w.u32(kSimpleReplyMagic);
  w.u32(static_cast<uint32_t>(reply.error));
  w.u64(reply.handle);
  std::copy(tmp.begin(), tmp.end(), out.begin());
}

Bytes encodeSimpleReplyHeader(const SimpleReply& reply) {
  Bytes out(kSimpleReplyHeaderSize);
  encodeSimpleReplyHeader(reply, std::span<std::byte, kSimpleReplyHeaderSize>(out.data(), kSimpleReplyHeaderSize));
  return out;
}

Result<SimpleReply> decodeSimpleReplyHeader(std::span<const std::byte> bytes) {
  ByteReader r(bytes);
  uint32_t magic = 0, error = 0;
  SimpleReply reply;
  if (bytes.size() != kSimpleReplyHeaderSize || !r.u32(&magic) || !r.u32(&error) || !r.u64(&reply.handle)) {
    return malformed("simple reply header");
  }
  if (magic != kSimpleReplyMagic) return malformed("simple reply magic");
  reply.error = static_cast<NbdError>(error);
  return reply;
}

// ---- Structured replies ----

Bytes encodeChunkHeader(const ChunkHeader& header) {
  Bytes out;
  out.reserve(kStructuredReplyHeaderSize);
  ByteWriter w(out);
  w.u32(kStructuredReplyMagic);
  w.u16(header.flags);
  w.u16(static_cast<uint16_t>(header.type));
  w.u64(header.handle);
  w.u32(header.length);
  return out;
}

Result<ChunkHeader> decodeChunkHeader(std::span<const std::byte> bytes) {
  ByteReader r(bytes);
  uint32_t magic = 0;
  uint16_t type = 0;
  ChunkHeader header;
  if (bytes.size() != kStructuredReplyHeaderSize || !r.u32(&magic) || !r.u16(&header.flags) || !r.u16(&type) ||
      !r.u64(&header.handle) || !r.u32(&header.length)) {
    return malformed("structured reply header");
  }
  if (magic != kStructuredReplyMagic) return malformed("structured reply magic");
  header.type = static_cast<ChunkType>(type);
  return header;
}

Bytes encodeBlockStatusPayload(const BlockStatusPayload& payload) {
  Bytes out;
  out.reserve(4 + 8 * payload.extents.size());
  ByteWriter w(out);
  w.u32(payload.context_id);
  for (const BlockStatusDescriptor& d : payload.extents) {
    w.u32(d.length);
    w.u32(d.flags);
  }
  return out;
}

Result<BlockStatusPayload> decodeBlockStatusPayload(std::span<const std::byte> data) {
  if (data.size() < 12 || (data.size() - 4) % 8 != 0) return malformed("block status payload");
  ByteReader r(data);
  BlockStatusPayload payload;
  r.u32(&payload.context_id);
  while (r.remaining() > 0) {
    BlockStatusDescriptor d;
    r.u32(&d.length);
    r.u32(&d.flags);
    payload.extents.push_back(d);
  }
  return payload;
}

Bytes encodeErrorChunkPayload(NbdError error, std::string_view message) {
  message = message.substr(0, kMaxStringBytes);
  Bytes out;
  ByteWriter w(out);
  w.u32(static_cast<uint32_t>(error));
  w.u16(static_cast<uint16_t>(message.size()));
  w.text(message);
  return out;
}

Result<ErrorChunk> decodeErrorChunkPayload(std::span<const std::byte> data) {
  ByteReader r(data);
  uint32_t error = 0;
  uint16_t length = 0;
  ErrorChunk chunk;
  if (!r.u32(&error) || !r.u16(&length) || !r.text(length, &chunk.message)) return malformed("error chunk");
  // NBD_REPLY_TYPE_ERROR_OFFSET carries an offset after the message: not checked here.
  chunk.error = static_cast<NbdError>(error);
  return chunk;
}

Bytes encodeMetaContextReplyData(uint32_t context_id, std::string_view name) {
  Bytes out;
  ByteWriter w(out);
  w.u32(context_id);
  w.text(name);
  return out;
}

Result<MetaContextReplyData> decodeMetaContextReplyData(std::span<const std::byte> data) {
  ByteReader r(data);
  MetaContextReplyData reply;
  if (data.size() < 4 || data.size() - 4 > kMaxStringBytes || !r.u32(&reply.context_id) ||
      !r.text(data.size() - 4, &reply.name)) {
    return malformed("meta context reply");
  }
  return reply;
}

Bytes encodeMetaContextRequest(const MetaContextRequest& request) {
  Bytes out;
  ByteWriter w(out);
  w.u32(static_cast<uint32_t>(request.export_name.size()));
  w.text(request.export_name);
  w.u32(static_cast<uint32_t>(request.queries.size()));
  for (const std::string& q : request.queries) {
    w.u32(static_cast<uint32_t>(q.size()));
    w.text(q);
  }
  return out;
}

}  // namespace tandem::nbd
