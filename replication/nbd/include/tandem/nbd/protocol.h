// NBD wire protocol: constants and pure encode/decode functions (no sockets, no state).
//
// Covers the fixed newstyle handshake, option requests and replies (including the INFO/GO
// payloads), transmission requests and simple replies, as described in the NBD spec
// (NetworkBlockDevice/nbd doc/proto.md). Every integer is big-endian on the wire.
//
// Decoders take exactly the bytes of one message part and return a Result: malformed input
// (bad magic, short or inconsistent lengths, strings over 4096 bytes) yields kProtocol, never
// undefined behaviour, so they can be fed arbitrary bytes (fuzzing). Encoders cannot fail.
// Enumerations have a fixed underlying type so unknown values received from a peer are kept.
// Thread-safety: all functions are pure and reentrant.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tandem/common/status.h"

namespace tandem::nbd {

using Bytes = std::vector<std::byte>;

// ---- Magic numbers and fixed sizes -------------------------------------------------------
inline constexpr uint64_t kNbdMagic = 0x4e42444d41474943ULL;        // "NBDMAGIC"
inline constexpr uint64_t kIHaveOptMagic = 0x49484156454F5054ULL;   // "IHAVEOPT"
inline constexpr uint64_t kOptionReplyMagic = 0x3e889045565a9ULL;
inline constexpr uint32_t kRequestMagic = 0x25609513;
inline constexpr uint32_t kSimpleReplyMagic = 0x67446698;
inline constexpr uint32_t kStructuredReplyMagic = 0x668e33ef;

inline constexpr size_t kGreetingSize = 18;           // magic, IHAVEOPT, handshake flags
inline constexpr size_t kClientFlagsSize = 4;
inline constexpr size_t kOptionHeaderSize = 16;       // IHAVEOPT, option, length
inline constexpr size_t kOptionReplyHeaderSize = 20;  // magic, option, reply type, length
inline constexpr size_t kExportNameReplyZeroes = 124;
inline constexpr size_t kRequestHeaderSize = 28;
inline constexpr size_t kSimpleReplyHeaderSize = 16;
inline constexpr size_t kStructuredReplyHeaderSize = 20;
inline constexpr size_t kMaxStringBytes = 4096;       // export names, messages

// ---- Flags --------------------------------------------------------------------------------
// Handshake flags (server, 16 bits).
inline constexpr uint16_t kFlagFixedNewstyle = 1u << 0;
inline constexpr uint16_t kFlagNoZeroes = 1u << 1;
// Client flags (32 bits).
inline constexpr uint32_t kClientFlagFixedNewstyle = 1u << 0;
inline constexpr uint32_t kClientFlagNoZeroes = 1u << 1;
// Transmission flags (16 bits).
inline constexpr uint16_t kTransHasFlags = 1u << 0;
inline constexpr uint16_t kTransReadOnly = 1u << 1;
inline constexpr uint16_t kTransSendFlush = 1u << 2;
inline constexpr uint16_t kTransSendFua = 1u << 3;
inline constexpr uint16_t kTransRotational = 1u << 4;
inline constexpr uint16_t kTransSendTrim = 1u << 5;
inline constexpr uint16_t kTransSendWriteZeroes = 1u << 6;
inline constexpr uint16_t kTransSendDf = 1u << 7;
inline constexpr uint16_t kTransCanMultiConn = 1u << 8;
// Command flags (16 bits).
inline constexpr uint16_t kCmdFlagFua = 1u << 0;
inline constexpr uint16_t kCmdFlagNoHole = 1u << 1;
inline constexpr uint16_t kCmdFlagDf = 1u << 2;
inline constexpr uint16_t kCmdFlagReqOne = 1u << 3;
inline constexpr uint16_t kCmdFlagFastZero = 1u << 4;
// Structured reply chunk flags.
inline constexpr uint16_t kReplyFlagDone = 1u << 0;
// Status flags of the base:allocation meta context.
inline constexpr uint32_t kStateHole = 1u << 0;
inline constexpr uint32_t kStateZero = 1u << 1;
// The one meta context this server implements.
inline constexpr std::string_view kBaseAllocation = "base:allocation";

// ---- Enumerations -------------------------------------------------------------------------
enum class OptionType : uint32_t {
  kExportName = 1,
  kAbort = 2,
  kList = 3,
  kStartTls = 5,
  kInfo = 6,
  kGo = 7,
  kStructuredReply = 8,
  kListMetaContext = 9,
  kSetMetaContext = 10,
  kExtendedHeaders = 11,
};

inline constexpr uint32_t kReplyErrorBit = 1u << 31;
enum class ReplyType : uint32_t {
  kAck = 1,
  kServer = 2,
  kInfo = 3,
  kMetaContext = 4,
  kErrUnsup = kReplyErrorBit + 1,
  kErrPolicy = kReplyErrorBit + 2,
  kErrInvalid = kReplyErrorBit + 3,
  kErrPlatform = kReplyErrorBit + 4,
  kErrTlsReqd = kReplyErrorBit + 5,
  kErrUnknown = kReplyErrorBit + 6,
  kErrShutdown = kReplyErrorBit + 7,
  kErrBlockSizeReqd = kReplyErrorBit + 8,
  kErrTooBig = kReplyErrorBit + 9,
};
inline bool isErrorReply(ReplyType t) { return (static_cast<uint32_t>(t) & kReplyErrorBit) != 0; }

enum class InfoType : uint16_t {
  kExport = 0,
  kName = 1,
  kDescription = 2,
  kBlockSize = 3,
};

enum class Command : uint16_t {
  kRead = 0,
  kWrite = 1,
  kDisc = 2,
  kFlush = 3,
  kTrim = 4,
  kCache = 5,
  kWriteZeroes = 6,
  kBlockStatus = 7,
};

// Error values of the reply's error field (not the host's errno values, though equal on Linux).
enum class NbdError : uint32_t {
  kOk = 0,
  kPerm = 1,
  kIo = 5,
  kNoMem = 12,
  kInval = 22,
  kNoSpc = 28,
  kOverflow = 75,
  kNotSup = 95,
  kShutdown = 108,
};

// Chunk types of a structured reply.
enum class ChunkType : uint16_t {
  kNone = 0,
  kOffsetData = 1,
  kOffsetHole = 2,
  kBlockStatus = 5,
  kError = 32769,
  kErrorOffset = 32770,
};

std::string_view optionName(OptionType option);
std::string_view commandName(Command command);

// Maps a Tandem Status to the NBD error a client sees (OK → kOk; kInvalidArgument → EINVAL;
// kNoSpace/kTooLarge → ENOSPC; kPermissionDenied → EPERM; everything else → EIO).
NbdError nbdErrorFromStatus(const Status& status);

// ---- Handshake ----------------------------------------------------------------------------
Bytes encodeGreeting(uint16_t handshake_flags);
// Checks both magics; returns the handshake flags.
Result<uint16_t> decodeGreeting(std::span<const std::byte> bytes);

Bytes encodeClientFlags(uint32_t flags);
Result<uint32_t> decodeClientFlags(std::span<const std::byte> bytes);

// ---- Option haggling ----------------------------------------------------------------------
struct OptionHeader {
  OptionType option{};
  uint32_t length = 0;  // bytes of option data that follow
};
// The whole option request (header + data).
Bytes encodeOption(OptionType option, std::span<const std::byte> data);
// Decodes the 16-byte header; checks the IHAVEOPT magic.
Result<OptionHeader> decodeOptionHeader(std::span<const std::byte> bytes);

struct OptionReplyHeader {
  OptionType option{};
  ReplyType type{};
  uint32_t length = 0;  // bytes of reply data that follow
};
// The whole option reply (header + data).
Bytes encodeOptionReply(OptionType option, ReplyType type, std::span<const std::byte> data);
Result<OptionReplyHeader> decodeOptionReplyHeader(std::span<const std::byte> bytes);

// Data of NBD_OPT_INFO and NBD_OPT_GO.
struct InfoRequest {
  std::string export_name;
  std::vector<InfoType> requests;
};
Bytes encodeInfoRequest(const InfoRequest& request);
// Checks that the name length, the count and the data length agree exactly.
Result<InfoRequest> decodeInfoRequest(std::span<const std::byte> data);

// Data of NBD_OPT_LIST_META_CONTEXT / NBD_OPT_SET_META_CONTEXT.
struct MetaContextRequest {
  std::string export_name;
  std::vector<std::string> queries;
};
Result<MetaContextRequest> decodeMetaContextRequest(std::span<const std::byte> data);

// Data of an NBD_REP_SERVER reply (one export of NBD_OPT_LIST).
Bytes encodeServerReplyData(std::string_view export_name, std::string_view description = {});
struct ServerReplyData {
  std::string export_name;
  std::string description;
};
Result<ServerReplyData> decodeServerReplyData(std::span<const std::byte> data);

struct BlockSizeConstraints {
  uint32_t minimum = 1;
  uint32_t preferred = 4096;
  uint32_t maximum = 32u << 20;
  bool operator==(const BlockSizeConstraints&) const = default;
};

// Data of an NBD_REP_INFO reply, one per information type.
Bytes encodeInfoExport(uint64_t size_bytes, uint16_t transmission_flags);
Bytes encodeInfoName(std::string_view name);
Bytes encodeInfoDescription(std::string_view description);
Bytes encodeInfoBlockSize(const BlockSizeConstraints& sizes);
struct InfoReply {
  InfoType type{};
  uint64_t size_bytes = 0;              // kExport
  uint16_t transmission_flags = 0;      // kExport
  std::string text;                     // kName, kDescription
  BlockSizeConstraints block_sizes;     // kBlockSize
};
// Decodes a known information type; unknown types decode with only `type` set.
Result<InfoReply> decodeInfoReply(std::span<const std::byte> data);

// The server's answer to NBD_OPT_EXPORT_NAME: size, transmission flags, 124 zeroes unless
// the client negotiated NO_ZEROES.
Bytes encodeExportNameReply(uint64_t size_bytes, uint16_t transmission_flags, bool no_zeroes);
struct ExportNameReply {
  uint64_t size_bytes = 0;
  uint16_t transmission_flags = 0;
};
// Accepts 10 bytes (no zeroes) or 134 bytes.
Result<ExportNameReply> decodeExportNameReply(std::span<const std::byte> bytes);

// ---- Transmission -------------------------------------------------------------------------
struct Request {
  uint16_t flags = 0;
  Command type{};
  uint64_t handle = 0;
  uint64_t offset = 0;
  uint32_t length = 0;
  bool operator==(const Request&) const = default;
};
// The 28-byte header (a write's payload follows separately).
Bytes encodeRequestHeader(const Request& request);
Result<Request> decodeRequestHeader(std::span<const std::byte> bytes);

struct SimpleReply {
  NbdError error = NbdError::kOk;
  uint64_t handle = 0;
  bool operator==(const SimpleReply&) const = default;
};
// The 16-byte header (a successful read's data follows separately).
Bytes encodeSimpleReplyHeader(const SimpleReply& reply);
void encodeSimpleReplyHeader(const SimpleReply& reply, std::span<std::byte, kSimpleReplyHeaderSize> out);
Result<SimpleReply> decodeSimpleReplyHeader(std::span<const std::byte> bytes);

// ---- Structured replies (negotiated with NBD_OPT_STRUCTURED_REPLY) ---------------------------
struct ChunkHeader {
  uint16_t flags = 0;  // kReplyFlagDone on the last chunk of a reply
  ChunkType type{};
  uint64_t handle = 0;
  uint32_t length = 0;  // bytes of chunk payload that follow
  bool operator==(const ChunkHeader&) const = default;
};
// The 20-byte header of one chunk.
Bytes encodeChunkHeader(const ChunkHeader& header);
Result<ChunkHeader> decodeChunkHeader(std::span<const std::byte> bytes);

// One extent of a BLOCK_STATUS reply: `length` bytes with the context's `flags`.
struct BlockStatusDescriptor {
  uint32_t length = 0;
  uint32_t flags = 0;
  bool operator==(const BlockStatusDescriptor&) const = default;
};
struct BlockStatusPayload {
  uint32_t context_id = 0;
  std::vector<BlockStatusDescriptor> extents;
};
// The payload of an NBD_REPLY_TYPE_BLOCK_STATUS chunk.
Bytes encodeBlockStatusPayload(const BlockStatusPayload& payload);
// Needs the context id and at least one whole descriptor, nothing trailing.
Result<BlockStatusPayload> decodeBlockStatusPayload(std::span<const std::byte> data);

// The payload of an NBD_REPLY_TYPE_ERROR chunk: the error and a message (at most 4096 bytes
// are sent).
Bytes encodeErrorChunkPayload(NbdError error, std::string_view message);
struct ErrorChunk {
  NbdError error = NbdError::kOk;
  std::string message;
};
Result<ErrorChunk> decodeErrorChunkPayload(std::span<const std::byte> data);

// The data of an NBD_REP_META_CONTEXT option reply: the context id and its name.
Bytes encodeMetaContextReplyData(uint32_t context_id, std::string_view name);
struct MetaContextReplyData {
  uint32_t context_id = 0;
  std::string name;
};
Result<MetaContextReplyData> decodeMetaContextReplyData(std::span<const std::byte> data);

// Data of NBD_OPT_LIST_META_CONTEXT / NBD_OPT_SET_META_CONTEXT, as a client sends it.
Bytes encodeMetaContextRequest(const MetaContextRequest& request);

}  // namespace tandem::nbd
