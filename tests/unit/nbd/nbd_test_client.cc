#include "nbd_test_client.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace tandem::nbd::testing {
namespace {

int withTimeout(int fd) {
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  return fd;
}

}  // namespace

std::unique_ptr<TestNbdClient> TestNbdClient::connectTcp(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    if (fd >= 0) ::close(fd);
    return nullptr;
  }
  return std::unique_ptr<TestNbdClient>(new TestNbdClient(withTimeout(fd)));
}

std::unique_ptr<TestNbdClient> TestNbdClient::connectUnix(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    if (fd >= 0) ::close(fd);
    return nullptr;
  }
  return std::unique_ptr<TestNbdClient>(new TestNbdClient(withTimeout(fd)));
}

TestNbdClient::~TestNbdClient() { ::close(fd_); }

Status TestNbdClient::sendRaw(std::span<const std::byte> bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::fromErrno(errno, "test client send");
    }
    done += static_cast<size_t>(n);
  }
  return Status::ok();
}

Status TestNbdClient::readRaw(std::span<std::byte> out) {
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::recv(fd_, out.data() + done, out.size() - done, 0);
    if (n == 0) return Status(ErrorCode::kUnavailable, "server closed the connection");
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::fromErrno(errno, "test client recv");
    }
    done += static_cast<size_t>(n);
  }
  return Status::ok();
}

bool TestNbdClient::serverClosed() {
  std::byte b;
  for (;;) {
    ssize_t n = ::recv(fd_, &b, 1, 0);
    if (n == 0) return true;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno == ECONNRESET;  // EAGAIN: the deadline passed, still open
    return false;                          // unexpected data
  }
}

Result<uint16_t> TestNbdClient::handshake(uint32_t client_flags) {
  Bytes greeting(kGreetingSize);
  RETURN_IF_ERROR(readRaw(greeting));
  ASSIGN_OR_RETURN(uint16_t flags, decodeGreeting(greeting));
  RETURN_IF_ERROR(sendRaw(encodeClientFlags(client_flags)));
  return flags;
}

Status TestNbdClient::sendOption(OptionType option, std::span<const std::byte> data) {
  return sendRaw(encodeOption(option, data));
}

Result<Chunk> TestNbdClient::callStructured(const Request& request) {
  RETURN_IF_ERROR(sendRaw(encodeRequestHeader(request)));
  Bytes header(kStructuredReplyHeaderSize);
  RETURN_IF_ERROR(readRaw(header));
  Chunk chunk;
  ASSIGN_OR_RETURN(chunk.header, decodeChunkHeader(header));
  chunk.payload.resize(chunk.header.length);
  RETURN_IF_ERROR(readRaw(chunk.payload));
  return chunk;
}

Result<OptionReply> TestNbdClient::readOptionReply() {
  Bytes header(kOptionReplyHeaderSize);
  RETURN_IF_ERROR(readRaw(header));
  OptionReply reply;
  ASSIGN_OR_RETURN(reply.header, decodeOptionReplyHeader(header));
  reply.data.resize(reply.header.length);
  RETURN_IF_ERROR(readRaw(reply.data));
  return reply;
}

Result<GoResult> TestNbdClient::infoOrGo(OptionType option, const std::string& name,
                                         std::vector<InfoType> requests) {
  RETURN_IF_ERROR(sendOption(option, encodeInfoRequest(InfoRequest{name, std::move(requests)})));
  GoResult result;
  for (;;) {
    ASSIGN_OR_RETURN(OptionReply reply, readOptionReply());
    if (reply.header.option != option) return Status(ErrorCode::kProtocol, "reply to another option");
    if (reply.header.type == ReplyType::kInfo) {
      ASSIGN_OR_RETURN(InfoReply info, decodeInfoReply(reply.data));
      result.infos.push_back(info);
      continue;
    }
    result.final_reply = reply.header.type;
    result.error_message.assign(reinterpret_cast<const char*>(reply.data.data()), reply.data.size());
    return result;
  }
}

Result<std::vector<std::string>> TestNbdClient::list() {
  RETURN_IF_ERROR(sendOption(OptionType::kList));
  std::vector<std::string> names;
  for (;;) {
    ASSIGN_OR_RETURN(OptionReply reply, readOptionReply());
    if (reply.header.type == ReplyType::kAck) return names;
    if (reply.header.type != ReplyType::kServer) return Status(ErrorCode::kProtocol, "unexpected LIST reply");
    ASSIGN_OR_RETURN(ServerReplyData server, decodeServerReplyData(reply.data));
    names.push_back(server.export_name);
  }
}

Result<SimpleReply> TestNbdClient::call(const Request& request, std::span<const std::byte> payload,
                                        std::span<std::byte> read_out) {
  Bytes message = encodeRequestHeader(request);
  message.insert(message.end(), payload.begin(), payload.end());
  RETURN_IF_ERROR(sendRaw(message));
  Bytes header(kSimpleReplyHeaderSize);
  RETURN_IF_ERROR(readRaw(header));
  ASSIGN_OR_RETURN(SimpleReply reply, decodeSimpleReplyHeader(header));
  if (request.type == Command::kRead && reply.error == NbdError::kOk) {
    RETURN_IF_ERROR(readRaw(read_out.first(request.length)));
  }
  return reply;
}

}  // namespace tandem::nbd::testing
