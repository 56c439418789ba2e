// Tests of NbdServer over real sockets (TCP on port 0 and a UNIX socket), driven by the
// in-test client, against a RecordingBlockDevice.
#include "tandem/nbd/nbd_server.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <mutex>
#include <condition_variable>
#include <set>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "nbd_test_client.h"
#include "recording_block_device.h"
#include "tandem/devices/file_block_device.h"
#include "tandem/devices/memory_block_device.h"
#include "tandem/nbd/static_export_registry.h"

namespace tandem::nbd {
namespace {

using testing::RecordingBlockDevice;
using testing::TestNbdClient;

constexpr uint64_t kDiskSize = 1 << 20;
constexpr uint32_t kMaxPayload = 256 * 1024;

Bytes pattern(size_t n, uint8_t seed) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<std::byte>((i * 7 + seed) & 0xff);
  return b;
}

class NbdServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tandem-nbd-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    disk_ = std::make_shared<RecordingBlockDevice>(kDiskSize);
    other_ = std::make_shared<RecordingBlockDevice>(4096);
    registry_.add("disk", disk_);
    registry_.add("other", other_);
    ServerOptions options;
    options.requests_in_flight = 8;  // the node worker's setting: replies may come out of order
    options.unix_socket_path = socketPath();
    options.max_payload_bytes = kMaxPayload;
    auto server = NbdServer::start(options, registry_);
    ASSERT_TRUE(server.isOk()) << server.status().toString();
    server_ = std::move(server).value();
  }
  void TearDown() override {
    if (server_) server_->stop();
    std::filesystem::remove_all(dir_);
  }
  std::string socketPath() const { return dir_ + "/nbd.sock"; }

  std::unique_ptr<TestNbdClient> connect() {
    auto client = TestNbdClient::connectTcp(server_->tcpPort());
    EXPECT_NE(client, nullptr);
    return client;
  }
  // A client in transmission on `name` (via GO).
  std::unique_ptr<TestNbdClient> open(const std::string& name = "disk") {
    auto client = connect();
    if (!client) return nullptr;
    EXPECT_TRUE(client->handshake().isOk());
    auto go = client->infoOrGo(OptionType::kGo, name);
    EXPECT_TRUE(go.isOk());
    if (!go.isOk() || go->final_reply != ReplyType::kAck) return nullptr;
    return client;
  }

  std::string dir_;
  std::shared_ptr<RecordingBlockDevice> disk_;
  std::shared_ptr<RecordingBlockDevice> other_;
  StaticExportRegistry registry_;
  std::unique_ptr<NbdServer> server_;
};

// The server binds a real port when asked for port 0.
TEST_F(NbdServerTest, BindsAnEphemeralTcpPort) { EXPECT_NE(server_->tcpPort(), 0); }

// The greeting advertises fixed newstyle and NO_ZEROES.
TEST_F(NbdServerTest, HandshakeAdvertisesFixedNewstyleAndNoZeroes) {
  auto client = connect();
  auto flags = client->handshake();
  ASSERT_TRUE(flags.isOk()) << flags.status().toString();
  EXPECT_EQ(*flags, kFlagFixedNewstyle | kFlagNoZeroes);
}

// Client flags the server does not know end the connection.
TEST_F(NbdServerTest, UnknownClientFlagsCloseTheConnection) {
  auto client = connect();
  ASSERT_TRUE(client->handshake(kClientFlagFixedNewstyle | (1u << 7)).isOk());
  EXPECT_TRUE(client->serverClosed());
}

// LIST names every export, then ACK; the session continues.
TEST_F(NbdServerTest, ListReturnsEveryExport) {
  auto client = connect();
  ASSERT_TRUE(client->handshake().isOk());
  auto names = client->list();
  ASSERT_TRUE(names.isOk()) << names.status().toString();
  EXPECT_EQ(*names, (std::vector<std::string>{"disk", "other"}));
  auto again = client->list();
  EXPECT_TRUE(again.isOk());
}

// LIST with data is syntactically invalid.
TEST_F(NbdServerTest, ListWithDataIsInvalid) {
  auto client = connect();
  ASSERT_TRUE(client->handshake().isOk());
  Bytes junk(3);
  ASSERT_TRUE(client->sendOption(OptionType::kList, junk).isOk());
  auto reply = client->readOptionReply();
  ASSERT_TRUE(reply.isOk());
  EXPECT_EQ(reply->header.type, ReplyType::kErrInvalid);
}

// INFO describes the export (size, flags, block sizes, name on request) and stays in negotiation.
TEST_F(NbdServerTest, InfoDescribesTheExportAndStaysInNegotiation) {
  auto client = connect();
  ASSERT_TRUE(client->handshake().isOk());
  auto info = client->infoOrGo(OptionType::kInfo, "disk", {InfoType::kBlockSize, InfoType::kName});
  ASSERT_TRUE(info.isOk()) << info.status().toString();
  EXPECT_EQ(info->final_reply, ReplyType::kAck);
  bool saw_export = false, saw_block = false, saw_name = false;
  for (const InfoReply& i : info->infos) {
    if (i.type == InfoType::kExport) {
      saw_export = true;
      EXPECT_EQ(i.size_bytes, kDiskSize);
      EXPECT_EQ(i.transmission_flags,
                kTransHasFlags | kTransSendFlush | kTransSendFua | kTransSendTrim | kTransSendWriteZeroes);
    } else if (i.type == InfoType::kBlockSize) {
      saw_block = true;
      EXPECT_EQ(i.block_sizes, (BlockSizeConstraints{1, 4096, kMaxPayload}));
    } else if (i.type == InfoType::kName) {
      saw_name = true;
      EXPECT_EQ(i.text, "disk");
    }
  }
  EXPECT_TRUE(saw_export && saw_block && saw_name);
  EXPECT_TRUE(client->list().isOk());  // still negotiating
}

// GO on an unknown export is answered NBD_REP_ERR_UNKNOWN and the client may try again.
TEST_F(NbdServerTest, GoOnUnknownExportIsReportedUnknown) {
  auto client = connect();
  ASSERT_TRUE(client->handshake().isOk());
  auto go = client->infoOrGo(OptionType::kGo, "nope");
  ASSERT_TRUE(go.isOk());
  EXPECT_EQ(go->final_reply, ReplyType::kErrUnknown);
  EXPECT_NE(go->error_message.find("nope"), std::string::npos);
  auto retry = client->infoOrGo(OptionType::kGo, "disk");
  ASSERT_TRUE(retry.isOk());
  EXPECT_EQ(retry->final_reply, ReplyType::kAck);
}

// Malformed GO data is NBD_REP_ERR_INVALID.
TEST_F(NbdServerTest, MalformedGoIsInvalid) {
  auto client = connect();
  ASSERT_TRUE(client->handshake().isOk());
  Bytes bad{std::byte{0}, std::byte{0}, std::byte{0}, std::byte{9}};
  ASSERT_TRUE(client->sendOption(OptionType::kGo, bad).isOk());
  auto reply = client->readOptionReply();
  ASSERT_TRUE(reply.isOk());
  EXPECT_EQ(reply->header.type, ReplyType::kErrInvalid);
}

// Unknown options, EXTENDED_HEADERS and STARTTLS are refused with ERR_UNSUP.
TEST_F(NbdServerTest, UnsupportedOptionsAreRefusedWithUnsup) {
  auto client = connect();
  ASSERT_TRUE(client->handshake().isOk());
  for (OptionType option : {static_cast<OptionType>(0x77), OptionType::kExtendedHeaders, OptionType::kStartTls}) {
    Bytes data(5, std::byte{1});
    ASSERT_TRUE(client->sendOption(option, data).isOk());
    auto reply = client->readOptionReply();
    ASSERT_TRUE(reply.isOk());
    EXPECT_EQ(reply->header.option, option);
    EXPECT_EQ(reply->header.type, ReplyType::kErrUnsup) << optionName(option);
  }
  auto go = client->infoOrGo(OptionType::kGo, "disk");
  ASSERT_TRUE(go.isOk());
  EXPECT_EQ(go->final_reply, ReplyType::kAck);
}

// Sends a meta context option and returns the context names the server answered, up to its ACK
// (or the error reply type in `*final_type`).
std::vector<std::string> metaContexts(TestNbdClient& client, OptionType option, const std::string& name,
                                      std::vector<std::string> queries, ReplyType* final_type) {
  std::vector<std::string> names;
  EXPECT_TRUE(client.sendOption(option, encodeMetaContextRequest(MetaContextRequest{name, std::move(queries)})).isOk());
  for (;;) {
    auto reply = client.readOptionReply();
    EXPECT_TRUE(reply.isOk());
    if (!reply.isOk()) return names;
    if (reply->header.type != ReplyType::kMetaContext) {
      *final_type = reply->header.type;
      return names;
    }
    auto data = decodeMetaContextReplyData(reply->data);
    EXPECT_TRUE(data.isOk());
    EXPECT_EQ(data->context_id, 1u);
    names.push_back(data->name);
  }
}

// STRUCTURED_REPLY is acknowledged; LIST_META_CONTEXT offers base:allocation (for no query and
// for the "base:" namespace); SET_META_CONTEXT selects it and ignores contexts it does not know.
TEST_F(NbdServerTest, StructuredRepliesAndBaseAllocationAreNegotiated) {
  auto client = connect();
  ASSERT_TRUE(client->handshake().isOk());
  ASSERT_TRUE(client->sendOption(OptionType::kStructuredReply).isOk());
  auto ack = client->readOptionReply();
  ASSERT_TRUE(ack.isOk());
  EXPECT_EQ(ack->header.type, ReplyType::kAck);
  ReplyType final_type{};
  using Names = std::vector<std::string>;
  EXPECT_EQ(metaContexts(*client, OptionType::kListMetaContext, "disk", {}, &final_type), Names{"base:allocation"});
  EXPECT_EQ(final_type, ReplyType::kAck);
  EXPECT_EQ(metaContexts(*client, OptionType::kListMetaContext, "disk", {"base:"}, &final_type),
            Names{"base:allocation"});
  EXPECT_EQ(metaContexts(*client, OptionType::kSetMetaContext, "disk", {"qemu:dirty-bitmap:x", "base:allocation"},
                         &final_type),
            Names{"base:allocation"});
  EXPECT_EQ(final_type, ReplyType::kAck);
  EXPECT_TRUE(metaContexts(*client, OptionType::kSetMetaContext, "nope", {"base:allocation"}, &final_type).empty());
  EXPECT_EQ(final_type, ReplyType::kErrUnknown);
}

// Meta contexts need structured replies first (the spec's ERR_INVALID), and BLOCK_STATUS needs a
// context: without one it is EINVAL and the connection goes on.
TEST_F(NbdServerTest, MetaContextsNeedStructuredRepliesAndBlockStatusNeedsAContext) {
  auto client = connect();
  ASSERT_TRUE(client->handshake().isOk());
  ReplyType final_type{};
  EXPECT_TRUE(metaContexts(*client, OptionType::kSetMetaContext, "disk", {"base:allocation"}, &final_type).empty());
  EXPECT_EQ(final_type, ReplyType::kErrInvalid);
  auto go = client->infoOrGo(OptionType::kGo, "disk");
  ASSERT_TRUE(go.isOk());
  ASSERT_EQ(go->final_reply, ReplyType::kAck);
  auto reply = client->call(Request{0, Command::kBlockStatus, 5, 0, 4096});
  ASSERT_TRUE(reply.isOk()) << reply.status().toString();
  EXPECT_EQ(reply->error, NbdError::kInval);
  Bytes out(512);
  auto read = client->call(Request{0, Command::kRead, 6, 0, 512}, {}, out);
  ASSERT_TRUE(read.isOk());
  EXPECT_EQ(read->error, NbdError::kOk);
}

// With structured replies a READ is one OFFSET_DATA chunk (flag DONE) and a failed READ one
// ERROR chunk; other commands keep simple replies.
TEST_F(NbdServerTest, StructuredReadsAnswerWithOffsetDataOrErrorChunks) {
  auto client = connect();
  ASSERT_TRUE(client->handshake().isOk());
  ASSERT_TRUE(client->sendOption(OptionType::kStructuredReply).isOk());
  ASSERT_TRUE(client->readOptionReply().isOk());
  auto go = client->infoOrGo(OptionType::kGo, "disk");
  ASSERT_TRUE(go.isOk());
  ASSERT_EQ(go->final_reply, ReplyType::kAck);
  Bytes data = pattern(4096, 3);
  auto write = client->call(Request{0, Command::kWrite, 1, 8192, 4096}, data);
  ASSERT_TRUE(write.isOk());
  EXPECT_EQ(write->error, NbdError::kOk);

  auto chunk = client->callStructured(Request{0, Command::kRead, 2, 8192, 4096});
  ASSERT_TRUE(chunk.isOk()) << chunk.status().toString();
  EXPECT_EQ(chunk->header, (ChunkHeader{kReplyFlagDone, ChunkType::kOffsetData, 2, 8 + 4096}));
  Bytes offset(chunk->payload.begin(), chunk->payload.begin() + 8);
  EXPECT_EQ(offset, (Bytes{std::byte{0}, std::byte{0}, std::byte{0}, std::byte{0}, std::byte{0}, std::byte{0},
                           std::byte{0x20}, std::byte{0}}));
  EXPECT_EQ(Bytes(chunk->payload.begin() + 8, chunk->payload.end()), data);

  auto error = client->callStructured(Request{0, Command::kRead, 3, kDiskSize, 4096});
  ASSERT_TRUE(error.isOk()) << error.status().toString();
  EXPECT_EQ(error->header.type, ChunkType::kError);
  EXPECT_EQ(error->header.flags, kReplyFlagDone);
  auto decoded = decodeErrorChunkPayload(error->payload);
  ASSERT_TRUE(decoded.isOk());
  EXPECT_EQ(decoded->error, NbdError::kInval);
}

// BLOCK_STATUS on base:allocation describes a sparse file's holes (HOLE|ZERO) and data (0) as
// the file system has them; REQ_ONE returns only the first extent; a range past the end is EINVAL.
TEST_F(NbdServerTest, BlockStatusReportsTheHolesAndDataOfASparseFile) {
  constexpr uint64_t kUnit = 1 << 20;  // larger than any file system's allocation unit
  std::string path = dir_ + "/sparse.img";
  {
    std::ofstream(path).close();
    std::filesystem::resize_file(path, 4 * kUnit);
  }
  auto file = devices::FileBlockDevice::open(path);
  ASSERT_TRUE(file.isOk());
  std::shared_ptr<devices::BlockDevice> sparse = std::move(file).value();
  Bytes data = pattern(kUnit, 9);
  ASSERT_TRUE(sparse->write(kUnit, data, false).isOk());
  registry_.add("sparse", sparse);

  auto client = connect();
  ASSERT_TRUE(client->handshake().isOk());
  ASSERT_TRUE(client->sendOption(OptionType::kStructuredReply).isOk());
  ASSERT_TRUE(client->readOptionReply().isOk());
  ReplyType final_type{};
  ASSERT_EQ(metaContexts(*client, OptionType::kSetMetaContext, "sparse", {"base:allocation"}, &final_type).size(), 1u);
  auto go = client->infoOrGo(OptionType::kGo, "sparse");
  ASSERT_TRUE(go.isOk());
  ASSERT_EQ(go->final_reply, ReplyType::kAck);

  auto chunk = client->callStructured(Request{0, Command::kBlockStatus, 7, 0, 4 * kUnit});
  ASSERT_TRUE(chunk.isOk()) << chunk.status().toString();
  EXPECT_EQ(chunk->header.type, ChunkType::kBlockStatus);
  EXPECT_EQ(chunk->header.flags, kReplyFlagDone);
  auto status = decodeBlockStatusPayload(chunk->payload);
  ASSERT_TRUE(status.isOk());
  EXPECT_EQ(status->context_id, 1u);
  using D = BlockStatusDescriptor;
  const uint32_t hole = kStateHole | kStateZero;
  EXPECT_EQ(status->extents, (std::vector<D>{D{kUnit, hole}, D{kUnit, 0}, D{2 * kUnit, hole}}));

  auto one = client->callStructured(Request{kCmdFlagReqOne, Command::kBlockStatus, 8, kUnit / 2, 2 * kUnit});
  ASSERT_TRUE(one.isOk());
  auto first = decodeBlockStatusPayload(one->payload);
  ASSERT_TRUE(first.isOk());
  EXPECT_EQ(first->extents, (std::vector<D>{D{kUnit / 2, hole}}));

  auto past = client->callStructured(Request{0, Command::kBlockStatus, 9, 4 * kUnit - 512, 4096});
  ASSERT_TRUE(past.isOk());
  EXPECT_EQ(past->header.type, ChunkType::kError);
  EXPECT_EQ(decodeErrorChunkPayload(past->payload)->error, NbdError::kInval);
}

// EXPORT_NAME ends negotiation with size and flags, without the 124 zeroes under NO_ZEROES.
TEST_F(NbdServerTest, ExportNameEntersTransmissionWithoutZeroes) {
  auto client = connect();
  ASSERT_TRUE(client->handshake().isOk());
  std::string name = "disk";
  ASSERT_TRUE(client->sendOption(OptionType::kExportName, std::as_bytes(std::span(name))).isOk());
  Bytes reply(10);
  ASSERT_TRUE(client->readRaw(reply).isOk());
  auto decoded = decodeExportNameReply(reply);
  ASSERT_TRUE(decoded.isOk());
  EXPECT_EQ(decoded->size_bytes, kDiskSize);
  auto flush = client->call({0, Command::kFlush, 7, 0, 0});  // the next bytes are a reply, not zeroes
  ASSERT_TRUE(flush.isOk()) << flush.status().toString();
  EXPECT_EQ(flush->handle, 7u);
}

// Without NO_ZEROES, EXPORT_NAME's answer carries the 124 zero bytes.
TEST_F(NbdServerTest, ExportNameSendsZeroesWhenNotNegotiatedAway) {
  auto client = connect();
  ASSERT_TRUE(client->handshake(kClientFlagFixedNewstyle).isOk());
  std::string name = "other";
  ASSERT_TRUE(client->sendOption(OptionType::kExportName, std::as_bytes(std::span(name))).isOk());
  Bytes reply(134);
  ASSERT_TRUE(client->readRaw(reply).isOk());
  EXPECT_EQ(decodeExportNameReply(reply)->size_bytes, 4096u);
  EXPECT_TRUE(client->call({0, Command::kFlush, 1, 0, 0}).isOk());
}

// EXPORT_NAME of an unknown export cannot be answered: the server closes.
TEST_F(NbdServerTest, ExportNameOfUnknownExportClosesTheConnection) {
  auto client = connect();
  ASSERT_TRUE(client->handshake().isOk());
  std::string name = "nope";
  ASSERT_TRUE(client->sendOption(OptionType::kExportName, std::as_bytes(std::span(name))).isOk());
  EXPECT_TRUE(client->serverClosed());
}

// ABORT is acknowledged, then the server closes.
TEST_F(NbdServerTest, AbortIsAcknowledgedThenClosed) {
  auto client = connect();
  ASSERT_TRUE(client->handshake().isOk());
  ASSERT_TRUE(client->sendOption(OptionType::kAbort).isOk());
  auto reply = client->readOptionReply();
  ASSERT_TRUE(reply.isOk());
  EXPECT_EQ(reply->header.type, ReplyType::kAck);
  EXPECT_TRUE(client->serverClosed());
}

// Written data reads back and lands in the device.
TEST_F(NbdServerTest, WriteThenReadReturnsTheData) {
  auto client = open();
  ASSERT_NE(client, nullptr);
  Bytes data = pattern(65536, 3);
  auto w = client->call({0, Command::kWrite, 1, 4096, 65536}, data);
  ASSERT_TRUE(w.isOk());
  EXPECT_EQ(*w, (SimpleReply{NbdError::kOk, 1}));
  Bytes back(65536);
  auto r = client->call({0, Command::kRead, 2, 4096, 65536}, {}, back);
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ(*r, (SimpleReply{NbdError::kOk, 2}));
  EXPECT_EQ(back, data);
  auto snapshot = disk_->inner().snapshot();
  EXPECT_TRUE(std::equal(data.begin(), data.end(), snapshot.begin() + 4096));
}

// A FUA write reaches the device as a FUA write; a plain one does not.
TEST_F(NbdServerTest, FuaWriteReachesTheDeviceAsFua) {
  auto client = open();
  ASSERT_NE(client, nullptr);
  Bytes data = pattern(512, 1);
  ASSERT_TRUE(client->call({0, Command::kWrite, 1, 0, 512}, data).isOk());
  EXPECT_EQ(disk_->inner().fuaWriteCount(), 0u);
  auto w = client->call({kCmdFlagFua, Command::kWrite, 2, 0, 512}, data);
  ASSERT_TRUE(w.isOk());
  EXPECT_EQ(w->error, NbdError::kOk);
  EXPECT_EQ(disk_->inner().fuaWriteCount(), 1u);
}

// FLUSH reaches the device.
TEST_F(NbdServerTest, FlushReachesTheDevice) {
  auto client = open();
  ASSERT_NE(client, nullptr);
  auto f = client->call({0, Command::kFlush, 9, 0, 0});
  ASSERT_TRUE(f.isOk());
  EXPECT_EQ(*f, (SimpleReply{NbdError::kOk, 9}));
  EXPECT_EQ(disk_->inner().flushCount(), 1u);
}

// TRIM and WRITE_ZEROES (with and without NO_HOLE) reach the device and zero the range.
TEST_F(NbdServerTest, TrimAndWriteZeroesZeroTheRange) {
  auto client = open();
  ASSERT_NE(client, nullptr);
  Bytes data(3 * 4096, std::byte{0xaa});
  ASSERT_TRUE(client->call({0, Command::kWrite, 1, 0, 3 * 4096}, data).isOk());
  EXPECT_EQ(client->call({0, Command::kTrim, 2, 0, 4096})->error, NbdError::kOk);
  EXPECT_EQ(client->call({0, Command::kWriteZeroes, 3, 4096, 4096})->error, NbdError::kOk);
  EXPECT_EQ(client->call({kCmdFlagNoHole | kCmdFlagFua, Command::kWriteZeroes, 4, 8192, 4096})->error,
            NbdError::kOk);
  EXPECT_EQ(disk_->trims, 1);
  EXPECT_EQ(disk_->write_zeroes, 1);
  EXPECT_EQ(disk_->inner().fuaWriteCount(), 0u);  // NO_HOLE zeroes were written, then flushed
  EXPECT_EQ(disk_->inner().flushCount(), 1u);
  Bytes back(3 * 4096);
  ASSERT_EQ(client->call({0, Command::kRead, 5, 0, 3 * 4096}, {}, back)->error, NbdError::kOk);
  EXPECT_EQ(back, Bytes(3 * 4096));
}

// Out-of-range requests fail (EINVAL for reads and trims, ENOSPC for writes) and the
// connection stays usable (a refused write's payload is drained).
TEST_F(NbdServerTest, OutOfRangeRequestsFailAndTheConnectionSurvives) {
  auto client = open();
  ASSERT_NE(client, nullptr);
  Bytes buf(4096);
  EXPECT_EQ(client->call({0, Command::kRead, 1, kDiskSize - 512, 4096}, {}, buf)->error, NbdError::kInval);
  EXPECT_EQ(client->call({0, Command::kTrim, 2, kDiskSize, 1})->error, NbdError::kInval);
  EXPECT_EQ(client->call({0, Command::kWrite, 3, kDiskSize, 4096}, buf)->error, NbdError::kNoSpc);
  EXPECT_EQ(client->call({0, Command::kWriteZeroes, 4, kDiskSize - 1, 2})->error, NbdError::kNoSpc);
  EXPECT_EQ(client->call({0, Command::kRead, 5, 0, 4096}, {}, buf)->error, NbdError::kOk);
}

// Unknown commands and invalid flags are EINVAL; the connection stays usable.
TEST_F(NbdServerTest, UnknownCommandsAndFlagsAreEinval) {
  auto client = open();
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(client->call({0, static_cast<Command>(42), 1, 0, 0})->error, NbdError::kInval);
  EXPECT_EQ(client->call({0, Command::kBlockStatus, 2, 0, 512})->error, NbdError::kInval);
  Bytes buf(512);
  EXPECT_EQ(client->call({kCmdFlagNoHole, Command::kWrite, 3, 0, 512}, buf)->error, NbdError::kInval);
  EXPECT_EQ(client->call({0, Command::kFlush, 4, 0, 0})->error, NbdError::kOk);
}

// A read over the payload limit is EINVAL; a write over it ends the connection.
TEST_F(NbdServerTest, OversizedPayloadsAreRefused) {
  auto client = open();
  ASSERT_NE(client, nullptr);
  Bytes buf(kMaxPayload + 512);
  EXPECT_EQ(client->call({0, Command::kRead, 1, 0, kMaxPayload + 512}, {}, buf)->error, NbdError::kInval);
  ASSERT_TRUE(client->sendRaw(encodeRequestHeader({0, Command::kWrite, 2, 0, kMaxPayload + 512})).isOk());
  EXPECT_TRUE(client->serverClosed());
}

// Device errors reach the client as NBD errors.
TEST_F(NbdServerTest, DeviceErrorsAreReportedAsNbdErrors) {
  auto client = open();
  ASSERT_NE(client, nullptr);
  disk_->failWith(Status(ErrorCode::kIo, "injected"));
  Bytes buf(512);
  EXPECT_EQ(client->call({0, Command::kRead, 1, 0, 512}, {}, buf)->error, NbdError::kIo);
  disk_->failWith(Status(ErrorCode::kNoSpace, "injected"));
  EXPECT_EQ(client->call({0, Command::kWrite, 2, 0, 512}, buf)->error, NbdError::kNoSpc);
  disk_->failWith(Status::ok());
  EXPECT_EQ(client->call({0, Command::kRead, 3, 0, 512}, {}, buf)->error, NbdError::kOk);
}

// Pipelined requests are all answered, each exactly once (in any order: the protocol allows
// out-of-order replies), and the data of completed writes reads back.
TEST_F(NbdServerTest, PipelinedRequestsAreAllAnswered) {
  auto client = open();
  ASSERT_NE(client, nullptr);
  Bytes burst;
  for (uint64_t h = 1; h <= 32; ++h) {
    Bytes data = pattern(4096, static_cast<uint8_t>(h));
    Bytes header = encodeRequestHeader({0, Command::kWrite, h, (h - 1) * 4096, 4096});
    burst.insert(burst.end(), header.begin(), header.end());
    burst.insert(burst.end(), data.begin(), data.end());
  }
  ASSERT_TRUE(client->sendRaw(burst).isOk());
  std::set<uint64_t> answered;
  for (int i = 0; i < 32; ++i) {
    Bytes header(kSimpleReplyHeaderSize);
    ASSERT_TRUE(client->readRaw(header).isOk());
    auto reply = decodeSimpleReplyHeader(header);
    ASSERT_TRUE(reply.isOk());
    EXPECT_EQ(reply->error, NbdError::kOk);
    EXPECT_TRUE(answered.insert(reply->handle).second) << "handle answered twice: " << reply->handle;
  }
  EXPECT_EQ(answered.size(), 32u);
  for (uint64_t h = 1; h <= 32; h += 7) {
    ASSERT_TRUE(client->sendRaw(encodeRequestHeader({0, Command::kRead, 1000 + h, (h - 1) * 4096, 4096})).isOk());
    Bytes header(kSimpleReplyHeaderSize);
    ASSERT_TRUE(client->readRaw(header).isOk());
    EXPECT_EQ(*decodeSimpleReplyHeader(header), (SimpleReply{NbdError::kOk, 1000 + h}));
    Bytes back(4096);
    ASSERT_TRUE(client->readRaw(back).isOk());
    EXPECT_EQ(back, pattern(4096, static_cast<uint8_t>(h)));
  }
}

// A slow request does not hold up the ones behind it: a READ sent after a blocked WRITE is
// answered first, and the WRITE is answered once its device call returns.
TEST_F(NbdServerTest, RequestsCompleteOutOfOrder) {
  class GatedDevice final : public devices::BlockDevice {
   public:
    uint64_t sizeBytes() const override { return kDiskSize; }
    Status read(uint64_t offset, std::span<std::byte> out) override { return inner_.read(offset, out); }
    Status write(uint64_t offset, std::span<const std::byte> data, bool fua) override {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return open_; });
      return inner_.write(offset, data, fua);
    }
    Status flush() override { return Status::ok(); }
    Status trim(uint64_t, uint64_t, bool) override { return Status::ok(); }
    Status writeZeroes(uint64_t o, uint64_t l, bool f) override { return inner_.writeZeroes(o, l, f); }
    void open() {
      std::lock_guard lock(mu_);
      open_ = true;
      cv_.notify_all();
    }

   private:
    devices::MemoryBlockDevice inner_{kDiskSize};
    std::mutex mu_;
    std::condition_variable cv_;
    bool open_ = false;
  };
  auto gated = std::make_shared<GatedDevice>();
  registry_.add("gated", gated);
  auto client = open("gated");
  ASSERT_NE(client, nullptr);
  Bytes burst = encodeRequestHeader({0, Command::kWrite, 1, 0, 4096});
  Bytes data = pattern(4096, 3);
  burst.insert(burst.end(), data.begin(), data.end());
  Bytes read = encodeRequestHeader({0, Command::kRead, 2, 8192, 4096});
  burst.insert(burst.end(), read.begin(), read.end());
  ASSERT_TRUE(client->sendRaw(burst).isOk());
  Bytes header(kSimpleReplyHeaderSize);
  ASSERT_TRUE(client->readRaw(header).isOk());
  EXPECT_EQ(*decodeSimpleReplyHeader(header), (SimpleReply{NbdError::kOk, 2})) << "the read must not wait";
  Bytes back(4096);
  ASSERT_TRUE(client->readRaw(back).isOk());
  gated->open();
  ASSERT_TRUE(client->readRaw(header).isOk());
  EXPECT_EQ(*decodeSimpleReplyHeader(header), (SimpleReply{NbdError::kOk, 1}));
}

// DISC ends the session without a reply.
TEST_F(NbdServerTest, DiscClosesTheConnection) {
  auto client = open();
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->sendRaw(encodeRequestHeader({0, Command::kDisc, 1, 0, 0})).isOk());
  EXPECT_TRUE(client->serverClosed());
}

// The UNIX socket serves the same exports.
TEST_F(NbdServerTest, UnixSocketServesTheExports) {
  auto client = TestNbdClient::connectUnix(socketPath());
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->handshake().isOk());
  auto go = client->infoOrGo(OptionType::kGo, "other");
  ASSERT_TRUE(go.isOk());
  ASSERT_EQ(go->final_reply, ReplyType::kAck);
  Bytes data = pattern(4096, 5);
  ASSERT_EQ(client->call({0, Command::kWrite, 1, 0, 4096}, data)->error, NbdError::kOk);
  EXPECT_EQ(other_->inner().snapshot(), data);
}

// disconnectExport closes the connections on that export only.
TEST_F(NbdServerTest, DisconnectExportClosesOnlyThatExportsConnections) {
  auto on_disk = open("disk");
  auto on_other = open("other");
  ASSERT_NE(on_disk, nullptr);
  ASSERT_NE(on_other, nullptr);
  registry_.remove("disk");
  server_->disconnectExport("disk");
  EXPECT_TRUE(on_disk->serverClosed());
  EXPECT_EQ(on_other->call({0, Command::kFlush, 1, 0, 0})->error, NbdError::kOk);
}

// stop() closes every client and removes the UNIX socket; stop() twice is harmless.
TEST_F(NbdServerTest, StopClosesClientsAndRemovesTheUnixSocket) {
  auto client = open();
  ASSERT_NE(client, nullptr);
  auto negotiating = connect();
  ASSERT_TRUE(negotiating->handshake().isOk());
  server_->stop();
  EXPECT_TRUE(client->serverClosed());
  EXPECT_TRUE(negotiating->serverClosed());
  EXPECT_FALSE(std::filesystem::exists(socketPath()));
  EXPECT_EQ(server_->connectionCount(), 0u);
  server_->stop();
}

// An export removed between the client's lookup and its entry into transmission is not
// served: the server re-checks the registry and closes (the disconnectExport race).
TEST(NbdServerRace, ExportRemovedDuringHandshakeIsNotServed) {
  class VanishingRegistry final : public ExportRegistry {
   public:
    std::shared_ptr<devices::BlockDevice> find(const std::string&) override {
      return lookups_++ == 0 ? device_ : nullptr;  // gone after the first lookup
    }
    std::vector<std::string> names() override { return {"disk"}; }

   private:
    std::shared_ptr<devices::BlockDevice> device_ = std::make_shared<devices::MemoryBlockDevice>(4096);
    std::atomic<int> lookups_{0};
  } registry;
  auto server = NbdServer::start(ServerOptions{}, registry);
  ASSERT_TRUE(server.isOk());
  auto client = TestNbdClient::connectTcp((*server)->tcpPort());
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->handshake().isOk());
  auto go = client->infoOrGo(OptionType::kGo, "disk");
  ASSERT_TRUE(go.isOk());
  EXPECT_EQ(go->final_reply, ReplyType::kAck);
  EXPECT_TRUE(client->serverClosed());
}

// A server with no listener, or a bad bind address, does not start.
TEST(NbdServerStart, FailsWithoutListenerOrWithBadAddress) {
  StaticExportRegistry registry;
  ServerOptions none;
  none.listen_tcp = false;
  EXPECT_EQ(NbdServer::start(none, registry).status().code(), ErrorCode::kInvalidArgument);
  ServerOptions bad;
  bad.tcp_bind_address = "not-an-address";
  EXPECT_FALSE(NbdServer::start(bad, registry).isOk());
}

// A UNIX socket path occupied by a regular file is not clobbered.
TEST(NbdServerStart, RefusesToReplaceANonSocketFile) {
  char tmpl[] = "/tmp/tandem-nbd-test-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string path = std::string(tmpl) + "/file";
  { std::ofstream(path) << "keep"; }
  StaticExportRegistry registry;
  ServerOptions options;
  options.listen_tcp = false;
  options.unix_socket_path = path;
  EXPECT_EQ(NbdServer::start(options, registry).status().code(), ErrorCode::kAlreadyExists);
  EXPECT_TRUE(std::filesystem::is_regular_file(path));
  std::filesystem::remove_all(tmpl);
}

// The registry adds, replaces, lists sorted and removes exports.
TEST(StaticExportRegistry, AddsFindsListsAndRemoves) {
  StaticExportRegistry registry;
  auto a = std::make_shared<devices::MemoryBlockDevice>(512);
  auto b = std::make_shared<devices::MemoryBlockDevice>(512);
  registry.add("b", b);
  registry.add("a", a);
  EXPECT_EQ(registry.find("a"), a);
  EXPECT_EQ(registry.names(), (std::vector<std::string>{"a", "b"}));
  registry.add("a", b);
  EXPECT_EQ(registry.find("a"), b);
  EXPECT_TRUE(registry.remove("a"));
  EXPECT_FALSE(registry.remove("a"));
  EXPECT_EQ(registry.find("a"), nullptr);
}

}  // namespace
}  // namespace tandem::nbd
