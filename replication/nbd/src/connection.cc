#include "connection.h"

#include <algorithm>
#include <array>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

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
  transmit(*outcome.device, outcome);
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

namespace {

// One request read from the socket, with its write payload or room for its read data.
struct Job {
  Request request;
  Bytes buffer;
};

// Writes whole replies from any thread; remembers a failed socket. With structured replies,
// READ and BLOCK_STATUS are answered with one chunk (flag DONE): OFFSET_DATA, BLOCK_STATUS or
// ERROR; every other command keeps its simple reply.
class ReplyWriter {
 public:
  ReplyWriter(int fd, bool structured) : fd_(fd), structured_(structured) {}
  // False once a write failed (the client is gone); later replies are dropped.
  bool send(uint64_t handle, NbdError error, std::span<const std::byte> data) {
    std::array<std::byte, kSimpleReplyHeaderSize> header;
    encodeSimpleReplyHeader(SimpleReply{error, handle}, header);
    return sendWhole(header, data);
  }
  // The reply to `request`: `error`, or success with the read data.
  bool reply(const Request& request, NbdError error, std::span<const std::byte> data) {
    bool chunked = structured_ && (request.type == Command::kRead || request.type == Command::kBlockStatus);
    if (!chunked) return send(request.handle, error, data);
    if (error != NbdError::kOk) {
      Bytes payload = encodeErrorChunkPayload(error, "");
      return sendChunk(ChunkHeader{kReplyFlagDone, ChunkType::kError, request.handle,
                                   static_cast<uint32_t>(payload.size())},
                       payload, {});
    }
    Bytes offset;
    offset.reserve(8);
    for (int shift = 56; shift >= 0; shift -= 8) offset.push_back(static_cast<std::byte>(request.offset >> shift));
    return sendChunk(ChunkHeader{kReplyFlagDone, ChunkType::kOffsetData, request.handle,
                                 static_cast<uint32_t>(8 + data.size())},
                     offset, data);
  }
  bool blockStatus(uint64_t handle, const BlockStatusPayload& status) {
    Bytes payload = encodeBlockStatusPayload(status);
    return sendChunk(ChunkHeader{kReplyFlagDone, ChunkType::kBlockStatus, handle, static_cast<uint32_t>(payload.size())},
                     payload, {});
  }
  bool broken() {
    std::lock_guard lock(mu_);
    return broken_;
  }

 private:
  bool sendChunk(const ChunkHeader& header, std::span<const std::byte> first, std::span<const std::byte> data) {
    Bytes head = encodeChunkHeader(header);
    head.insert(head.end(), first.begin(), first.end());
    return sendWhole(head, data);
  }
  bool sendWhole(std::span<const std::byte> head, std::span<const std::byte> data) {
    std::lock_guard lock(mu_);
    if (broken_) return false;
    if (!writeFull(fd_, head, data).isOk()) broken_ = true;
    return !broken_;
  }

  int fd_;
  const bool structured_;
  std::mutex mu_;
  bool broken_ = false;
};

void executeAndReply(devices::BlockDevice& device, Job& job, ReplyWriter& writer, const std::string& export_name) {
  if (job.request.type == Command::kBlockStatus) {
    auto extents = blockStatus(device, job.request);
    if (extents.isOk()) {
      writer.blockStatus(job.request.handle, BlockStatusPayload{kBaseAllocationContextId, std::move(extents).value()});
      return;
    }
    log::debug(kLog, export_name + ": BLOCK_STATUS failed: " + extents.status().toString());
    writer.reply(job.request, nbdErrorFromStatus(extents.status()), {});
    return;
  }
  NbdError error = executeRequest(device, job.request, job.buffer, job.buffer);
  if (error != NbdError::kOk) {
    log::debug(kLog, export_name + ": " + std::string(commandName(job.request.type)) + " failed with NBD error " +
                         std::to_string(static_cast<uint32_t>(error)));
  }
  std::span<const std::byte> data;
  if (job.request.type == Command::kRead && error == NbdError::kOk) data = std::span(job.buffer.data(), job.request.length);
  writer.reply(job.request, error, data);
}

// A bounded queue feeding the connection's worker threads.
class JobQueue {
 public:
  explicit JobQueue(size_t capacity) : capacity_(capacity) {}
  // Blocks while full. False after close().
  bool push(Job job) {
    std::unique_lock lock(mu_);
    space_.wait(lock, [&] { return closed_ || jobs_.size() < capacity_; });
    if (closed_) return false;
    jobs_.push_back(std::move(job));
    work_.notify_one();
    return true;
  }
  // Blocks until a job arrives; false when closed and drained.
  bool pop(Job* out) {
    std::unique_lock lock(mu_);
    work_.wait(lock, [&] { return closing_ || !jobs_.empty(); });
    if (jobs_.empty()) return false;
    *out = std::move(jobs_.front());
    jobs_.pop_front();
    space_.notify_one();
    return true;
  }
  // No more pushes; pop() drains what is queued, then returns false.
  void finish() {
    std::lock_guard lock(mu_);
    closing_ = true;
    closed_ = true;
    work_.notify_all();
    space_.notify_all();
  }

 private:
  size_t capacity_;
  std::mutex mu_;
  std::condition_variable work_, space_;
  std::deque<Job> jobs_;
  bool closing_ = false;
  bool closed_ = false;
};

}  // namespace

void Connection::transmit(devices::BlockDevice& device, const OptionOutcome& negotiated) {
  const std::string& export_name = negotiated.export_name;
  TransmissionLimits limits{device.sizeBytes(), config_.block_sizes.maximum, negotiated.block_status};
  ReplyWriter writer(fd_, negotiated.structured_replies);
  const uint32_t workers = std::max<uint32_t>(1, config_.requests_in_flight);
  JobQueue queue(workers);
  std::vector<std::thread> threads;
  if (workers > 1) {
    for (uint32_t i = 0; i < workers; ++i) {
      threads.emplace_back([&] {
        Job job;
        while (queue.pop(&job)) executeAndReply(device, job, writer, export_name);
      });
    }
  }

  std::array<std::byte, kRequestHeaderSize> header_bytes;
  while (!writer.broken()) {
    if (!readFull(fd_, header_bytes).isOk()) break;  // closed or shut down
    Result<Request> request = decodeRequestHeader(header_bytes);
    if (!request.isOk()) {
      log::warn(kLog, export_name + ": " + request.status().toString() + "; closing");
      break;
    }
    if (request->type == Command::kDisc) break;  // outstanding requests are completed below
    RequestCheck check = checkRequest(*request, limits);
    if (check.action == RequestCheck::Action::kDisconnect) {
      log::warn(kLog, export_name + ": " + std::string(commandName(request->type)) + " payload of " +
                          std::to_string(request->length) + " bytes is over the limit; closing");
      break;
    }
    uint32_t payload = payloadLength(*request);
    if (check.action == RequestCheck::Action::kReject) {
      if (payload > 0 && !discardBytes(fd_, payload).isOk()) break;
      log::debug(kLog, export_name + ": " + std::string(commandName(request->type)) + " rejected with NBD error " +
                           std::to_string(static_cast<uint32_t>(check.error)));
      writer.reply(*request, check.error, {});
      continue;
    }
    Job job{*request, Bytes(request->type == Command::kRead || payload > 0 ? request->length : 0)};
    if (payload > 0 && !readFull(fd_, std::span(job.buffer.data(), payload)).isOk()) break;
    // Reads are local and quick on every device Tandem exports: answering them on this thread
    // saves the hand-off; writes and flushes, which may wait for replicas, go to the workers.
    if (threads.empty() || job.request.type == Command::kRead || job.request.type == Command::kBlockStatus) {
      executeAndReply(device, job, writer, export_name);
    } else if (!queue.push(std::move(job))) {
      break;
    }
  }
  queue.finish();
  for (auto& t : threads) t.join();
}

}  // namespace tandem::nbd
