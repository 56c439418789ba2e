// TestNbdClient: a minimal blocking NBD client over real sockets, built on the protocol codec,
// for driving the server in tests. Every receive has a deadline (SO_RCVTIMEO) so a server bug
// fails a test instead of hanging it. Not thread-safe; one test thread uses it.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "tandem/nbd/protocol.h"

namespace tandem::nbd::testing {

struct OptionReply {
  OptionReplyHeader header;
  Bytes data;
};

// One structured reply chunk with its payload.
struct Chunk {
  ChunkHeader header;
  Bytes payload;
};

struct GoResult {
  ReplyType final_reply{};         // kAck on success, else the error reply
  std::vector<InfoReply> infos;
  std::string error_message;
};

class TestNbdClient {
 public:
  static std::unique_ptr<TestNbdClient> connectTcp(uint16_t port);
  static std::unique_ptr<TestNbdClient> connectUnix(const std::string& path);
  ~TestNbdClient();

  // Reads the greeting and answers with `client_flags`; returns the handshake flags.
  Result<uint16_t> handshake(uint32_t client_flags = kClientFlagFixedNewstyle | kClientFlagNoZeroes);
  Status sendOption(OptionType option, std::span<const std::byte> data = {});
  Result<OptionReply> readOptionReply();
  // Sends INFO or GO and collects the replies up to the final one.
  Result<GoResult> infoOrGo(OptionType option, const std::string& name, std::vector<InfoType> requests = {});
  Result<std::vector<std::string>> list();

  // Sends one request (with `payload` for writes) and reads its simple reply; for a
  // successful READ the data lands in `read_out` (request.length bytes).
  Result<SimpleReply> call(const Request& request, std::span<const std::byte> payload = {},
                           std::span<std::byte> read_out = {});
  // Sends one request (no payload) and reads one structured reply chunk.
  Result<Chunk> callStructured(const Request& request);
  Status sendRaw(std::span<const std::byte> bytes);
  Status readRaw(std::span<std::byte> out);
  // True when the server closed the connection (EOF or reset before the deadline).
  bool serverClosed();

 private:
  explicit TestNbdClient(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace tandem::nbd::testing
