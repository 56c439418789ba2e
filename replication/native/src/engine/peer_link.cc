#include "engine/peer_link.h"

#include <algorithm>

#include "net/frame_io.h"
#include "tandem/common/log.h"

namespace tandem::replication {
namespace {
constexpr std::string_view kLog = "replication";
}

void PeerLink::start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this] { run(); });
}

void PeerLink::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    if (socket_) socket_->shutdown();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::shared_ptr<AckWaiter> PeerLink::enqueue(uint64_t conn, uint64_t seq,
                                             std::shared_ptr<const std::vector<std::byte>> frame) {
  auto waiter = std::make_shared<AckWaiter>();
  {
    std::lock_guard lock(mu_);
    if (conn == 0 || conn != conn_ || broken_ || stopping_) return nullptr;
    pending_[seq] = waiter;
    queue_.push_back(std::move(frame));
  }
  cv_.notify_all();
  return waiter;
}

bool PeerLink::hasOutstanding() const {
  std::lock_guard lock(mu_);
  return !pending_.empty();
}

void PeerLink::drop(uint64_t conn) {
  std::lock_guard lock(mu_);
  if (conn == 0 || conn != conn_) return;
  broken_ = true;
  if (socket_) socket_->shutdown();
  cv_.notify_all();
}

void PeerLink::markBroken() {
  {
    std::lock_guard lock(mu_);
    broken_ = true;
    if (socket_) socket_->shutdown();
  }
  cv_.notify_all();
  PeerState s = state_.load();
  if (s != PeerState::kSplitBrain && state_.compare_exchange_strong(s, PeerState::kDisconnected) &&
      params_.on_change) {
    params_.on_change();
  }
}

void PeerLink::failOutstanding() {
  std::map<uint64_t, std::shared_ptr<AckWaiter>> pending;
  {
    std::lock_guard lock(mu_);
    conn_ = 0;
    pending.swap(pending_);
    queue_.clear();
  }
  for (auto& [seq, waiter] : pending) {
    waiter->complete(Status(ErrorCode::kUnavailable, "connection to " + params_.address.node + " lost"));
  }
}

Result<wire::HelloReply> PeerLink::handshake(net::Socket& socket) {
  RETURN_IF_ERROR(socket.setTimeouts(params_.peer_timeout, params_.peer_timeout));
  wire::Hello hello = owner_.helloFor();
  wire::FrameHeader h;
  h.type = wire::FrameType::kHello;
  h.volume = params_.volume;
  RETURN_IF_ERROR(net::writeFrame(socket, h, wire::encodeHello(hello)));
  ASSIGN_OR_RETURN(wire::Frame reply, net::readFrame(socket));
  if (reply.header.type != wire::FrameType::kHelloReply) {
    return Status(ErrorCode::kProtocol,
                  "expected HELLO_REPLY, got " + std::string(wire::frameTypeName(reply.header.type)));
  }
  return wire::decodeHelloReply(reply.payload);
}

void PeerLink::readerLoop(std::shared_ptr<net::Socket> socket) {
  while (true) {
    auto frame = net::readFrame(*socket);
    if (!frame.isOk()) {
      log::debug(kLog, "link to " + params_.address.node + ": " + frame.status().toString());
      break;
    }
    const auto& h = frame->header;
    if (h.type == wire::FrameType::kPong) continue;
    if (h.type != wire::FrameType::kAck) {
      log::warn(kLog, "link to " + params_.address.node + ": unexpected " +
                          std::string(wire::frameTypeName(h.type)));
      break;
    }
    auto code = wire::decodeAck(frame->payload);
    if (!code.isOk()) break;
    std::shared_ptr<AckWaiter> waiter;
    {
      std::lock_guard lock(mu_);
      auto it = pending_.find(h.sequence);
      if (it != pending_.end()) {
        waiter = std::move(it->second);
        pending_.erase(it);
      }
    }
    if (!waiter) {
      log::warn(kLog, "link to " + params_.address.node + ": ACK for unknown sequence");
      break;
    }
    if (*code == ErrorCode::kOk) {
      waiter->complete(Status::ok());
    } else {
      waiter->complete(Status(*code, "peer " + params_.address.node + " failed the request"));
    }
  }
  markBroken();
}

void PeerLink::senderLoop(net::Socket& socket) {
  const auto ping_interval = std::max(params_.peer_timeout / 3, std::chrono::milliseconds(1));
  while (true) {
    std::shared_ptr<const std::vector<std::byte>> frame;
    {
      std::unique_lock lock(mu_);
      bool woke =
          cv_.wait_for(lock, ping_interval, [this] { return stopping_ || broken_ || !queue_.empty(); });
      if (stopping_ || broken_) return;
      if (woke) {
        frame = std::move(queue_.front());
        queue_.pop_front();
      }
    }
    Status st;
    if (frame) {
      st = socket.sendAll(*frame);
    } else {
      wire::FrameHeader ping;
      ping.type = wire::FrameType::kPing;
      ping.volume = params_.volume;
      st = net::writeFrame(socket, ping, {});
    }
    if (!st.isOk()) {
      log::debug(kLog, "link to " + params_.address.node + ": " + st.toString());
      return;
    }
  }
}

void PeerLink::run() {
  uint64_t next_conn = 0;
  Status last_error;
  while (true) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) break;
    }
    if (state_.load() != PeerState::kSplitBrain) state_.store(PeerState::kConnecting);
    auto socket = net::connectTcp(params_.address.host, params_.address.port, params_.peer_timeout);
    Status failure;
    if (socket.isOk()) {
      {
        std::lock_guard lock(mu_);
        if (stopping_) break;
        socket_ = *socket;
        broken_ = false;
      }
      auto reply = handshake(**socket);
      if (reply.isOk() && reply->status != ErrorCode::kOk) {
        const PeerState before = state_.exchange(reply->diverged ? PeerState::kSplitBrain : PeerState::kDisconnected);
        if (before != PeerState::kSplitBrain || !reply->diverged) owner_.onPeerRefused(*this, *reply);
        reply = Status(reply->status, "refused by peer: " + reply->message);
      }
      if (reply.isOk()) {
        const uint64_t conn = ++next_conn;
        {
          std::lock_guard lock(mu_);
          conn_ = conn;
        }
        last_error = Status::ok();
        std::thread reader([this, s = *socket] { readerLoop(s); });
        auto connected = owner_.onPeerConnected(*this, conn, *reply);
        std::thread sync;
        if (connected.decision == PeerLinkOwner::Decision::kDrop) {
          markBroken();
        } else if (connected.decision == PeerLinkOwner::Decision::kSync) {
          sync = std::thread([this, conn, w = connected.sync_begin] { owner_.runSync(*this, conn, w); });
        }
        senderLoop(**socket);
        (*socket)->shutdown();
        owner_.onPeerLost(*this, conn);
        failOutstanding();
        reader.join();
        if (sync.joinable()) sync.join();
      } else {
        failure = reply.status();
      }
      std::lock_guard lock(mu_);
      socket_.reset();
    } else {
      failure = socket.status();
    }
    if (!failure.isOk() && failure.toString() != last_error.toString()) {
      log::warn(kLog, "peer " + params_.address.node + ": " + failure.toString());
      last_error = failure;
    }
    if (state_.load() != PeerState::kSplitBrain) state_.store(PeerState::kDisconnected);
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, params_.reconnect_interval, [this] { return stopping_; });
    if (stopping_) break;
  }
  state_.store(PeerState::kDisconnected);
}

}  // namespace tandem::replication
