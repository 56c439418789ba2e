// Volume: one volume's replication state on this node, in either role.
//
// Primary role: the data path (write/trim/writeZeroes/flush/read, used by PrimaryDevice), the
// peer links, the generation rules and the full sync (docs/replication.md, "Primary").
// Replica role: accepts one session at a time from the primary and applies its frames in order.
//
// Locking (in this order, never the reverse):
//   order_mu_   primary ordering: local apply + enqueue to peers, link set, excluded_, role
//   replica_mu_ replica application and the active session
//   meta_mu_    md_ (persisted metadata) and config_
// links_view_mu_ (a leaf) guards only the copy of the link set that status() reads.
// size_mu_ (a leaf) pairs with size_cv_: a replica session waits there, holding replica_mu_,
// for its node to grow the device (RESIZE); growTo() takes order_mu_ only, never replica_mu_.
// Writers never wait for ACKs while holding a lock.
// Thread-safety: every public method is thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "engine/peer_link.h"
#include "metadata/replica_metadata.h"
#include "net/socket.h"
#include "tandem/common/clock.h"
#include "tandem/devices/block_device.h"
#include "tandem/devices/snapshot_staging.h"
#include "tandem/replication/replication_service.h"
#include "wire/frame.h"
#include "wire/messages.h"

namespace tandem::replication {

struct VolumeEnv {
  ServiceOptions options;
  Clock* clock = nullptr;
  std::function<uint64_t()> new_generation;  // fresh random generation ids
  std::function<void()> on_change;           // any state visible in status() changed
};

class Volume final : public PeerLinkOwner {
 public:
  // Loads (or creates) the metadata and applies the device-binding and crash rules: metadata
  // without its device (config.new_device) or a device without its metadata makes the copy
  // Inconsistent; an unclean primary moves to a new generation; an unclean replica that
  // claimed UpToDate becomes Outdated. kConflict if config.primary and the copy is not
  // UpToDate (the verdict is persisted first).
  static Result<std::shared_ptr<Volume>> open(const VolumeConfig& config,
                                              std::shared_ptr<devices::BlockDevice> local,
                                              const std::string& metadata_path, VolumeEnv env);
  ~Volume() override;

  VolumeConfig config() const;
  // Applies a changed config. A larger config.size_bytes grows the volume first (growTo).
  Status update(const VolumeConfig& config);
  // Stops links and sessions, flushes, records a clean shutdown. Idempotent.
  void close();

  // --- primary data path (kUnavailable unless primary and open) ---
  uint64_t sizeBytes() const { return local_->sizeBytes(); }
  Status read(uint64_t offset, std::span<std::byte> out);
  // The local device's allocation of the range (BlockDevice::extents).
  // kUnavailable unless this copy is the primary (reads, which check quorum, follow).
  Result<std::vector<devices::Extent>> localExtents(uint64_t offset, uint64_t length);
  Status write(uint64_t offset, std::span<const std::byte> data, bool fua);
  Status trim(uint64_t offset, uint64_t length, bool fua);
  Status writeZeroes(uint64_t offset, uint64_t length, bool fua);
  Status flush();
  // ReplicationService::snapshotVolume: the nodes holding a copy, this one first.
  Result<std::vector<std::string>> snapshot(const std::string& name);

  VolumeStatus status() const;

  // --- replica side ---
  // Validates a HELLO and makes `socket` the active session (closing an older one). Returns the
  // session id and fills `reply`; an error status is the refusal to send.
  Result<uint64_t> acceptSession(const wire::Hello& hello, std::shared_ptr<net::Socket> socket,
                                 wire::HelloReply* reply);
  // Applies one frame of session `session`: the ACK status, or an error that ends the session
  // (kPermissionDenied: the session's writer epoch is older than the highest this replica has
  // seen; the frame is not applied).
  Result<ErrorCode> applyReplicated(uint64_t session, const wire::Frame& frame);
  void endSession(uint64_t session);

  // --- PeerLinkOwner ---
  wire::Hello helloFor() override;
  Connected onPeerConnected(PeerLink& link, uint64_t conn, const wire::HelloReply& reply) override;
  void onPeerRefused(PeerLink& link, const wire::HelloReply& reply) override;
  void onPeerLost(PeerLink& link, uint64_t conn) override;
  void runSync(PeerLink& link, uint64_t conn, std::shared_ptr<AckWaiter> sync_begin) override;
  // The longest run of holes a sync sends as one zero frame (the replica zeroes what it has
  // allocated there before it answers).
  static constexpr uint64_t kSyncZeroRunMax = 64ull << 20;

 private:
  // How many bytes from `offset` a sync may send as one zero frame without reading: 0 unless the
  // whole next `chunk` is a hole of the local device (BlockDevice::extents; a device that cannot
  // tell has none), else the hole's length from `offset`, at most kSyncZeroRunMax and the
  // volume's `size`. Needs order_mu_ (no write lands between the answer and the frame).
  uint64_t holeRunLocked(uint64_t offset, uint64_t chunk, uint64_t size);
  struct PendingAck {
    std::shared_ptr<PeerLink> link;
    uint64_t conn;
    std::shared_ptr<AckWaiter> waiter;
    bool up_to_date = false;  // the peer was up to date when the frame was queued (counts for quorum)
  };

  Volume(const VolumeConfig& config, wire::VolumeId id, std::shared_ptr<devices::BlockDevice> local,
         std::string metadata_path, ReplicaMetadata md, VolumeEnv env);

  // Grows the volume to `size` bytes (nothing if it is not larger). The local device must
  // already be backed by that many bytes (the node grew its backing store): kInvalidArgument
  // otherwise, nothing changed. As primary, the local view grows and RESIZE is queued to every
  // receiving peer under the ordering mutex, then their ACKs are awaited (a peer that cannot
  // grow is dropped and resynced later). As replica, the view grows and a session waiting in
  // RESIZE is woken.
  Status growTo(uint64_t size);
  // Replica side of RESIZE: waits (up to peer_timeout / 2) until the local device is `size`
  // bytes large, which happens when this node grows its backing store and calls growTo.
  // kUnavailable after that.
  Status awaitLocalSize(uint64_t size);
  std::shared_ptr<PeerLink> makeLink(const PeerAddress& peer);
  // Copies links_ to links_view_ (order_mu_ held; after every change of links_).
  void publishLinksLocked();
  // Applies `apply` locally and replicates `header`/`payload` to every receiving peer.
  Status replicate(wire::FrameHeader header, std::span<const std::byte> payload,
                   const std::function<Status()>& apply);
  // Queues SNAPSHOT_PREPARE with kFlagAbort for snapshot `name` to every receiving peer: the
  // snapshot will not be taken, their stages go (order_mu_ held).
  void abortPreparedLocked(std::span<const std::byte> name);
  // Replica side of SNAPSHOT_PREPARE and SNAPSHOT (replica_mu_ held). PREPARE of a new name
  // starts the stage (ack OK); of the staged name asks whether its precopy has converged
  // (OK, or UNAVAILABLE while it is still copying).
  ErrorCode prepareSnapshotLocked(const std::string& name);
  Status takeSnapshotLocked(const std::string& name);
  // Waits for every ACK (dropping peers that fail or time out); `up_to_date_acks`, when given,
  // receives how many peers that were up to date acknowledged.
  Status waitAcks(std::vector<PendingAck>& acks, size_t* up_to_date_acks = nullptr);
  // Waits until every NEW_GENERATION queued so far (and any queued meanwhile because a peer
  // was lost) is acknowledged, i.e. durable on every peer still receiving: no write after a
  // generation change is acknowledged before the survivors have that generation on disk.
  Status waitGenerationsDurable();
  // Counts this copy and the receiving up-to-date peers (order_mu_ held).
  size_t upToDateLocked() const;
  // Stamps `header` with the volume and the next sequence number, encodes it once and queues
  // it on `link`'s connection `conn`; null if that connection is gone (order_mu_ held).
  std::shared_ptr<AckWaiter> sendLocked(PeerLink& link, uint64_t conn, wire::FrameHeader header,
                                        std::span<const std::byte> payload);
  // The quorum rule for `up` up-to-date copies (the primary included) out of `members`
  // configured diskful replicas: OK or kUnavailable.
  Status checkQuorum(size_t up, size_t members, const char* when) const;
  // Marks the local copy `state` (unless it is already worse) after a failed apply or flush.
  void demoteDiskLocked(DiskState state, const char* why);  // meta_mu_ held
  // Queues a frame to every receiving link (order_mu_ held); a link that refuses it is handled as
  // lost (with missed writes). Fails only when persisting the resulting new generation fails.
  Status enqueueAllLocked(wire::FrameHeader header, std::span<const std::byte> payload,
                        std::vector<PendingAck>* acks);
  bool needNewGenerationLocked() const;
  Status newGenerationLocked();
  Status handleLostLocked(PeerLink& link, uint64_t conn, bool missed_writes);
  Status saveMetadataLocked(const ReplicaMetadata& md);  // meta_mu_ held
  // Flushes the local device, then records a clean stop in the metadata; logs failures as `what`.
  void flushAndMarkClean(const char* what);
  uint64_t generation() const;
  void notify() const {
    if (env_.on_change) env_.on_change();
  }

  const wire::VolumeId id_;
  const uint64_t initial_generation_;
  const std::shared_ptr<devices::BlockDevice> local_;
  const std::string metadata_path_;
  const VolumeEnv env_;

  // primary_ and closed_ change only while both order_mu_ and replica_mu_ are held, so either
  // lock gives a stable view; atomics let the read path check them without locking.
  std::atomic<bool> primary_{false};
  std::atomic<bool> closed_{false};

  mutable std::mutex order_mu_;
  uint64_t next_seq_ = 1;
  std::vector<std::shared_ptr<PeerLink>> links_;
  std::set<std::string> excluded_;  // peers that cannot hold the current generation
  std::vector<PendingAck> generation_acks_;  // NEW_GENERATION frames not yet acknowledged
  // The primary's snapshot being staged: every write applied while it is set is reported to it.
  std::shared_ptr<devices::SnapshotStaging> staging_;

  // A copy of links_ for status(), which must not wait for order_mu_ (a leaf lock).
  mutable std::mutex links_view_mu_;
  std::vector<std::shared_ptr<PeerLink>> links_view_;

  std::mutex replica_mu_;
  uint64_t session_counter_ = 0;
  uint64_t active_session_ = 0;
  std::shared_ptr<net::Socket> active_socket_;
  uint64_t session_epoch_ = 0;             // the active session's writer epoch
  std::vector<uint64_t> session_lineage_;  // its primary's generations, most recent first
  uint64_t split_brain_logged_ = 0;         // the primary generation last refused as diverged
  // A replica's snapshot announced by SNAPSHOT_PREPARE: copied in the background until its
  // SNAPSHOT frame arrives; every frame applied meanwhile is reported to it. Dropped (the
  // thread stopped and joined, the work file removed) by the next PREPARE, a new session or
  // close().
  struct ReplicaStage {
    std::string name;
    std::shared_ptr<devices::SnapshotStaging> stage;
    std::shared_ptr<std::atomic<bool>> ready;  // a precopy has run to its end
    std::jthread precopy;
  };
  std::unique_ptr<ReplicaStage> replica_stage_;
  // Publishes the last snapshot a replica cut, off the apply path (joined by close()).
  std::jthread publisher_;

  // A leaf: a session waiting in RESIZE sleeps on size_cv_ until growTo() grew the device.
  std::mutex size_mu_;
  std::condition_variable size_cv_;

  mutable std::mutex meta_mu_;
  ReplicaMetadata md_;
  VolumeConfig config_;
};

}  // namespace tandem::replication
