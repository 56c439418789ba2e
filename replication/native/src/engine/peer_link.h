// PeerLink: the primary's connection to one peer for one volume.
//
// A link thread connects out (retrying every reconnect_interval), sends HELLO, reads
// HELLO_REPLY and hands the decision to its owner (the Volume): up to date, or full sync (run by
// the owner on a sync thread the link provides). While connected, frames queued by the owner
// are sent in queue order by the link thread; a reader thread matches ACKs to waiters. Idle
// links send PING every peer_timeout/3; no bytes from the peer for peer_timeout drops the link.
//
// When a connection ends, the link calls owner.onPeerLost() *before* failing outstanding
// waiters, so a writer that sees its ACK fail knows the owner has already reacted.
// A peer that refuses the handshake because its copy diverged (HelloReply::diverged) shows
// PeerState::kSplitBrain until a later handshake succeeds. A link whose connection breaks shows
// kDisconnected at once (before its owner has processed the loss).
//
// Thread-safety: all public methods are thread-safe. state()/activeConnection() are changed by
// the owner under its ordering mutex (setState/setActiveConnection); the link never makes
// itself "receiving" on its own.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "engine/ack_waiter.h"
#include "net/socket.h"
#include "tandem/replication/replication_service.h"
#include "wire/frame.h"
#include "wire/messages.h"

namespace tandem::replication {

class PeerLink;

class PeerLinkOwner {
 public:
  enum class Decision { kDrop, kUpToDate, kSync };
  struct Connected {
    Decision decision = Decision::kDrop;
    std::shared_ptr<AckWaiter> sync_begin;  // with kSync: the SYNC_BEGIN frame's waiter
  };
  virtual ~PeerLinkOwner() = default;
  virtual wire::Hello helloFor() = 0;
  // After a successful handshake on connection `conn`.
  virtual Connected onPeerConnected(PeerLink& link, uint64_t conn, const wire::HelloReply& reply) = 0;
  // The peer refused the handshake (reply.status is not kOk); the link retries later. Repeated
  // split-brain refusals are reported once, when the link enters kSplitBrain.
  virtual void onPeerRefused(PeerLink& link, const wire::HelloReply& reply) = 0;
  // Connection `conn` ended (for any reason); called once per connection.
  virtual void onPeerLost(PeerLink& link, uint64_t conn) = 0;
  // Runs a full sync to the peer over connection `conn` (on a thread of the link).
  virtual void runSync(PeerLink& link, uint64_t conn, std::shared_ptr<AckWaiter> sync_begin) = 0;
};

class PeerLink {
 public:
  struct Params {
    PeerAddress address;
    wire::VolumeId volume{};
    std::chrono::milliseconds peer_timeout{5000};
    std::chrono::milliseconds reconnect_interval{500};
    std::function<void()> on_change;  // called when the link sees its connection break
  };

  PeerLink(Params params, PeerLinkOwner& owner) : params_(std::move(params)), owner_(owner) {}
  ~PeerLink() { stop(); }
  PeerLink(const PeerLink&) = delete;
  PeerLink& operator=(const PeerLink&) = delete;

  void start();
  // Closes the connection and joins every thread of the link. Idempotent. Must not be called
  // with the owner's ordering mutex held.
  void stop();

  const PeerAddress& address() const { return params_.address; }

  PeerState state() const { return state_.load(); }
  void setState(PeerState s) { state_.store(s); }
  // The connection frames go to, 0 while not receiving.
  uint64_t activeConnection() const { return active_conn_.load(); }
  void setActiveConnection(uint64_t conn) { active_conn_.store(conn); }

  // Queues an encoded frame with sequence `seq` on connection `conn`; null if that connection
  // is gone (the frame is then not sent).
  std::shared_ptr<AckWaiter> enqueue(uint64_t conn, uint64_t seq,
                                     std::shared_ptr<const std::vector<std::byte>> frame);
  // Whether frames sent on the current connection still wait for their ACK.
  bool hasOutstanding() const;
  // Breaks connection `conn` (if still current); the link thread then cleans up and retries.
  void drop(uint64_t conn);

  void setSyncProgress(uint64_t done, uint64_t total) {
    sync_done_.store(done);
    sync_total_.store(total);
  }
  uint64_t syncDone() const { return sync_done_.load(); }
  uint64_t syncTotal() const { return sync_total_.load(); }

 private:
  void run();
  Result<wire::HelloReply> handshake(net::Socket& socket);
  void readerLoop(std::shared_ptr<net::Socket> socket);
  void senderLoop(net::Socket& socket);
  void markBroken();
  void failOutstanding();

  const Params params_;
  PeerLinkOwner& owner_;
  std::atomic<PeerState> state_{PeerState::kConnecting};
  std::atomic<uint64_t> active_conn_{0};
  std::atomic<uint64_t> sync_done_{0};
  std::atomic<uint64_t> sync_total_{0};

  mutable std::mutex mu_;  // guards everything below
  std::condition_variable cv_;
  bool stopping_ = false;
  bool broken_ = false;
  uint64_t conn_ = 0;  // current connection id (0: none)
  std::shared_ptr<net::Socket> socket_;
  std::deque<std::shared_ptr<const std::vector<std::byte>>> queue_;
  std::map<uint64_t, std::shared_ptr<AckWaiter>> pending_;
  std::thread thread_;
};

}  // namespace tandem::replication
