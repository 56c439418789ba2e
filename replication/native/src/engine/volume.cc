#include "engine/volume.h"

#include <algorithm>

#include "tandem/common/log.h"

namespace tandem::replication {
namespace {

constexpr std::string_view kLog = "replication";
// How often a staged snapshot's precopy looks again for what was written meanwhile, and how
// often the primary asks a replica whether its precopy has converged.
constexpr auto kPrecopyRecheck = std::chrono::milliseconds(10);

Status unavailable(std::string_view what) { return Status(ErrorCode::kUnavailable, std::string(what)); }

bool allZero(std::span<const std::byte> data) {
  return std::all_of(data.begin(), data.end(), [](std::byte b) { return b == std::byte{0}; });
}

// A sync's zero chunk on the replica: zeroes [offset, offset+length) except where the device
// already has holes (they read as zeroes). Zeroing a hole would allocate it (FALLOC_FL_ZERO_RANGE),
// so a fully synced replica of a thin volume would take the volume's whole size in its pool.
// Only the replica's session writes this device during a sync, so the answer cannot go stale.
// A device that cannot tell its holes is zeroed whole.
Status zeroAllocated(devices::BlockDevice& device, uint64_t offset, uint64_t length) {
  auto extents = device.extents(offset, length);
  if (!extents.isOk()) return device.writeZeroes(offset, length, false);
  for (const devices::Extent& e : *extents) {
    if (!e.hole) RETURN_IF_ERROR(device.writeZeroes(offset, e.length, false));
    offset += e.length;
  }
  return Status::ok();
}

}  // namespace

Result<std::shared_ptr<Volume>> Volume::open(const VolumeConfig& config,
                                             std::shared_ptr<devices::BlockDevice> local,
                                             const std::string& metadata_path, VolumeEnv env) {
  ASSIGN_OR_RETURN(wire::VolumeId id, wire::volumeIdFromUuid(config.volume_uuid));
  if (!local) return Status(ErrorCode::kInvalidArgument, "no local device for " + config.volume_uuid);
  if (config.size_bytes != 0 && local->sizeBytes() < config.size_bytes) {
    return Status(ErrorCode::kInvalidArgument, "local device smaller than the volume");
  }
  if (metadata_path.empty()) return Status(ErrorCode::kInvalidArgument, "no metadata path");
  ASSIGN_OR_RETURN(std::optional<ReplicaMetadata> loaded, loadMetadata(metadata_path));
  ReplicaMetadata md;
  if (!loaded) {
    md.generation = initialGeneration(config.volume_uuid);
    // Only a device created empty together with its metadata is known to match the initial
    // generation (nothing was ever written at it). An old device whose metadata is gone may
    // hold anything.
    md.disk = config.new_device ? DiskState::kUpToDate : DiskState::kInconsistent;
    if (!config.new_device) {
      log::error(kLog, "volume " + config.volume_uuid + ": no metadata for an existing device, copy Inconsistent");
    } else if (config.data_replaced && config.primary) {
      // A device that comes with its data (adopted): written, so not the initial generation,
      // and every peer (new and empty, at the initial one) is fully synced from it.
      uint64_t g = 0;
      do {
        g = env.new_generation();
      } while (g == 0 || g == md.generation);
      md.generation = g;
      log::info(kLog, "volume " + config.volume_uuid + ": adopted with its data, generation " +
                          formatGeneration(md.generation));
    }
  } else {
    md = *loaded;
    if (config.new_device) {
      // The metadata describes a device that no longer exists (a replaced disk): the new one
      // is empty, whatever the metadata claims.
      md.disk = DiskState::kInconsistent;
      log::error(kLog, "volume " + config.volume_uuid + ": backing device re-created, copy Inconsistent");
    }
    if (!md.clean || (config.data_replaced && config.primary)) {
      // The node stopped without flushing (acknowledged writes may be missing here), or the data
      // was replaced: as primary, a new generation; peers at the old one are then synced.
      if (config.primary) {
        uint64_t g = 0;
        do {
          g = env.new_generation();
        } while (g == 0 || g == loaded->generation);
        advanceGeneration(md, g);
        log::warn(kLog, "volume " + config.volume_uuid + ": unclean shutdown, new generation " +
                            formatGeneration(md.generation));
      } else if (md.disk == DiskState::kUpToDate) {
        md.disk = DiskState::kOutdated;
        log::warn(kLog, "volume " + config.volume_uuid + ": unclean shutdown, replica Outdated");
      }
    }
  }
  const bool may_serve = md.disk == DiskState::kUpToDate;
  md.highest_epoch = std::max(md.highest_epoch, config.epoch);
  md.clean = !(config.primary && may_serve);
  RETURN_IF_ERROR(saveMetadata(metadata_path, md));
  if (config.primary && !may_serve) {
    return Status(ErrorCode::kConflict, "volume " + config.volume_uuid + ": the local copy is " +
                                            std::string(diskStateName(md.disk)) + " and cannot become primary");
  }

  std::shared_ptr<Volume> v(new Volume(config, id, std::move(local), metadata_path, md, std::move(env)));
  if (config.primary) {
    std::vector<std::shared_ptr<PeerLink>> links;
    {
      std::lock_guard order(v->order_mu_);
      std::lock_guard replica(v->replica_mu_);
      v->primary_ = true;
      for (const auto& peer : config.peers) v->links_.push_back(v->makeLink(peer));
      links = v->links_;
      v->publishLinksLocked();
    }
    for (auto& l : links) l->start();
  }
  return v;
}

Volume::Volume(const VolumeConfig& config, wire::VolumeId id, std::shared_ptr<devices::BlockDevice> local,
               std::string metadata_path, ReplicaMetadata md, VolumeEnv env)
    : id_(id),
      initial_generation_(initialGeneration(config.volume_uuid)),
      local_(std::move(local)),
      metadata_path_(std::move(metadata_path)),
      env_(std::move(env)),
      md_(md),
      config_(config) {}

Volume::~Volume() { close(); }

void Volume::publishLinksLocked() {
  std::lock_guard links(links_view_mu_);
  links_view_ = links_;
}

std::shared_ptr<PeerLink> Volume::makeLink(const PeerAddress& peer) {
  PeerLink::Params p;
  p.on_change = env_.on_change;
  p.address = peer;
  p.volume = id_;
  p.peer_timeout = env_.options.peer_timeout;
  p.reconnect_interval = env_.options.reconnect_interval;
  return std::make_shared<PeerLink>(std::move(p), *this);
}

VolumeConfig Volume::config() const {
  std::lock_guard lock(meta_mu_);
  return config_;
}

uint64_t Volume::generation() const {
  std::lock_guard lock(meta_mu_);
  return md_.generation;
}

Status Volume::saveMetadataLocked(const ReplicaMetadata& md) {
  if (md == md_) return Status::ok();
  RETURN_IF_ERROR(saveMetadata(metadata_path_, md));
  md_ = md;
  return Status::ok();
}

Status Volume::update(const VolumeConfig& config) {
  RETURN_IF_ERROR(growTo(config.size_bytes));
  std::vector<std::shared_ptr<PeerLink>> to_stop;
  std::vector<std::shared_ptr<PeerLink>> to_start;
  {
    std::lock_guard order(order_mu_);
    if (closed_) return unavailable("volume closed");
    {
      std::lock_guard meta(meta_mu_);
      if (config.volume_uuid != config_.volume_uuid) {
        return Status(ErrorCode::kInvalidArgument, "volume uuid cannot change");
      }
    }
    if (config.primary && !primary_) {
      std::lock_guard replica(replica_mu_);
      {
        std::lock_guard meta(meta_mu_);
        if (md_.disk != DiskState::kUpToDate) {
          return Status(ErrorCode::kConflict, "volume " + config.volume_uuid + ": the local copy is " +
                                                  std::string(diskStateName(md_.disk)) +
                                                  " and cannot become primary");
        }
      }
      if (active_socket_) active_socket_->shutdown();
      active_session_ = 0;
      replica_stage_.reset();
      active_socket_.reset();
      {
        std::lock_guard meta(meta_mu_);
        ReplicaMetadata md = md_;
        md.clean = false;
        RETURN_IF_ERROR(saveMetadataLocked(md));
      }
      primary_ = true;
      excluded_.clear();
    } else if (!config.primary && primary_) {
      std::lock_guard replica(replica_mu_);
      primary_ = false;
      to_stop.swap(links_);
      publishLinksLocked();
      excluded_.clear();
      if (local_->flush().isOk()) {
        std::lock_guard meta(meta_mu_);
        ReplicaMetadata md = md_;
        md.clean = true;
        RETURN_IF_ERROR(saveMetadataLocked(md));
      }
    } else if (!primary_) {
      // A replica told of a newer writer epoch fences the session of the older one at once
      // (applyReplicated refuses its frames anyway).
      std::lock_guard replica(replica_mu_);
      if (active_socket_ && session_epoch_ < config.epoch) active_socket_->shutdown();
    }
    if (primary_) {
      std::vector<std::shared_ptr<PeerLink>> kept;
      for (auto& link : links_) {
        const PeerAddress& a = link->address();
        bool still = std::find(config.peers.begin(), config.peers.end(), a) != config.peers.end();
        (still ? kept : to_stop).push_back(link);
      }
      for (const auto& peer : config.peers) {
        bool have = std::any_of(kept.begin(), kept.end(), [&](const std::shared_ptr<PeerLink>& l) {
          return l->address().node == peer.node;
        });
        if (!have) {
          kept.push_back(makeLink(peer));
          to_start.push_back(kept.back());
        }
      }
      links_ = std::move(kept);
      publishLinksLocked();
      for (auto it = excluded_.begin(); it != excluded_.end();) {
        bool known = std::any_of(config.peers.begin(), config.peers.end(),
                                 [&](const PeerAddress& p) { return p.node == *it; });
        it = known ? std::next(it) : excluded_.erase(it);
      }
      // A removed peer misses every later write but keeps its generation: move on now, so
      // that it is fully synced if it is ever added back.
      if (!to_stop.empty()) RETURN_IF_ERROR(newGenerationLocked());
    }
    std::lock_guard meta(meta_mu_);
    config_ = config;
    ReplicaMetadata md = md_;
    md.highest_epoch = std::max(md.highest_epoch, config.epoch);
    RETURN_IF_ERROR(saveMetadataLocked(md));
  }
  for (auto& l : to_stop) l->stop();
  for (auto& l : to_start) l->start();
  notify();
  return Status::ok();
}

Status Volume::growTo(uint64_t size) {
  if (size <= local_->sizeBytes()) return Status::ok();  // never shrinks
  std::vector<PendingAck> acks;
  bool primary = false;
  {
    std::lock_guard order(order_mu_);
    if (closed_) return unavailable("volume closed");
    Status refreshed = local_->refreshSize();
    if (!refreshed.isOk() && refreshed.code() != ErrorCode::kUnsupported) return refreshed;
    if (local_->sizeBytes() < size) {
      return Status(ErrorCode::kInvalidArgument, "volume " + config().volume_uuid + ": the local device has " +
                                                     std::to_string(local_->sizeBytes()) +
                                                     " bytes; grow its backing store to " +
                                                     std::to_string(size) + " first");
    }
    primary = primary_;
    // Under the ordering mutex: no write beyond the old end has been applied yet, and every
    // one that will be is queued after this frame, so each peer grows before it sees one.
    if (primary_) RETURN_IF_ERROR(enqueueAllLocked(wire::FrameHeader::of(wire::FrameType::kResize, 0, size), {}, &acks));
  }
  {
    std::lock_guard lock(size_mu_);
  }
  size_cv_.notify_all();  // a replica session waiting in RESIZE for this growth
  log::info(kLog, "volume " + config().volume_uuid + ": grown to " + std::to_string(size) + " bytes" +
                      (primary ? "" : " (replica)"));
  if (acks.empty()) return Status::ok();
  // A peer that could not grow is dropped like one that failed a write (and resynced later).
  Status st = waitAcks(acks);
  Status durable = waitGenerationsDurable();
  return st.isOk() ? durable : st;
}

Status Volume::awaitLocalSize(uint64_t size) {
  if (local_->sizeBytes() >= size) return Status::ok();
  (void)local_->refreshSize();  // the node may have grown the backing store already
  std::unique_lock lock(size_mu_);
  // The node grows the backing store and then calls updateVolume (growTo), which wakes this.
  bool grown = size_cv_.wait_for(lock, env_.options.peer_timeout / 2,
                                 [&] { return closed_.load() || local_->sizeBytes() >= size; });
  if (grown && !closed_) return Status::ok();
  return Status(ErrorCode::kUnavailable, "the local device has " + std::to_string(local_->sizeBytes()) +
                                             " bytes, not yet grown to " + std::to_string(size));
}

void Volume::close() {
  std::vector<std::shared_ptr<PeerLink>> to_stop;
  {
    std::lock_guard order(order_mu_);
    std::lock_guard replica(replica_mu_);
    if (closed_) return;
    closed_ = true;
    to_stop.swap(links_);
    publishLinksLocked();
    if (active_socket_) active_socket_->shutdown();
    active_session_ = 0;
    replica_stage_.reset();
    active_socket_.reset();
  }
  for (auto& l : to_stop) l->stop();
  {
    std::lock_guard replica(replica_mu_);
    if (publisher_.joinable()) publisher_.join();
  }
  flushAndMarkClean("volume close");
}

// ---------------------------------------------------------------- primary data path

Result<std::vector<devices::Extent>> Volume::localExtents(uint64_t offset, uint64_t length) {
  if (!primary_ || closed_) return unavailable("not the primary of this volume");
  return local_->extents(offset, length);
}

Status Volume::read(uint64_t offset, std::span<std::byte> out) {
  if (!primary_ || closed_) return unavailable("not the primary of this volume");
  if (config().quorum) {
    // A primary cut off from the majority may have been replaced: its copy may be stale.
    std::lock_guard order(order_mu_);
    RETURN_IF_ERROR(checkQuorum(upToDateLocked(), links_.size() + 1, "read refused"));
  }
  return local_->read(offset, out);
}

Status Volume::write(uint64_t offset, std::span<const std::byte> data, bool fua) {
  RETURN_IF_ERROR(devices::checkRange(offset, data.size(), local_->sizeBytes()));
  // Split so that every frame stays within the payload bound.
  while (!data.empty()) {
    auto part = data.first(std::min<size_t>(data.size(), wire::kMaxPayload));
    RETURN_IF_ERROR(replicate(wire::FrameHeader::of(wire::FrameType::kWrite, offset, part.size(), fua), part,
                              [&] { return local_->write(offset, part, fua); }));
    offset += part.size();
    data = data.subspan(part.size());
  }
  return Status::ok();
}

Status Volume::trim(uint64_t offset, uint64_t length, bool fua) {
  RETURN_IF_ERROR(devices::checkRange(offset, length, local_->sizeBytes()));
  if (length == 0) return Status::ok();
  // Every copy applies TRIM as WRITE_ZEROES: a device may ignore a trim or keep old data
  // (file systems without hole punching, discard without zeroing), and copies must not diverge.
  return replicate(wire::FrameHeader::of(wire::FrameType::kTrim, offset, length, fua), {},
                   [&] { return local_->writeZeroes(offset, length, fua); });
}

Status Volume::writeZeroes(uint64_t offset, uint64_t length, bool fua) {
  RETURN_IF_ERROR(devices::checkRange(offset, length, local_->sizeBytes()));
  if (length == 0) return Status::ok();
  return replicate(wire::FrameHeader::of(wire::FrameType::kWriteZeroes, offset, length, fua), {},
                   [&] { return local_->writeZeroes(offset, length, fua); });
}

Status Volume::flush() {
  if (!primary_ || closed_) return unavailable("not the primary of this volume");
  // Everything acknowledged before this call is applied locally and queued to the peers ahead
  // of the FLUSH frame, so both flushes cover it.
  RETURN_IF_ERROR(local_->flush());
  return replicate(wire::FrameHeader::of(wire::FrameType::kFlush), {}, [] { return Status::ok(); });
}

void Volume::abortPreparedLocked(std::span<const std::byte> name) {
  for (auto& link : links_) {
    const uint64_t conn = link->activeConnection();
    if (conn == 0) continue;
    wire::FrameHeader h = wire::FrameHeader::of(wire::FrameType::kSnapshotPrepare);
    h.flags = wire::kFlagAbort;
    (void)sendLocked(*link, conn, h, name);  // no answer awaited: a peer gone has dropped its stage
  }
}

Result<std::vector<std::string>> Volume::snapshot(const std::string& name) {
  if (name.empty() || name.size() > 128) return Status(ErrorCode::kInvalidArgument, "snapshot names have 1-128 bytes");
  if (!env_.options.take_snapshot && !env_.options.stage_snapshot) {
    return Status(ErrorCode::kUnsupported, "this node cannot take snapshots");
  }
  const std::string& uuid = config().volume_uuid;
  std::vector<std::pair<std::string, std::shared_ptr<AckWaiter>>> acks;
  std::vector<std::shared_ptr<AckWaiter>> prepare_acks;
  std::vector<std::string> copies{env_.options.node_name};
  const auto payload = std::as_bytes(std::span(name.data(), name.size()));
  std::chrono::nanoseconds paused{0};
  devices::SnapshotStaging::CutStats cut_stats;

  // Step 1, writes going on: the provider copies the volume (precopy) while every write applied
  // meanwhile is reported to it (replicate()), and the up-to-date peers do the same from
  // SNAPSHOT_PREPARE. On a busy volume this is what keeps the pause below short: the cut then
  // copies only what was written during the last pass (docs/replication.md, "Snapshots").
  std::shared_ptr<devices::SnapshotStaging> stage;
  if (env_.options.stage_snapshot) {
    ASSIGN_OR_RETURN(auto made, env_.options.stage_snapshot(uuid, name));
    stage = std::move(made);
  }
  {
    std::lock_guard order(order_mu_);
    if (!primary_ || closed_) return unavailable("not the primary of this volume");
    staging_ = stage;
    for (auto& link : links_) {
      const uint64_t conn = link->activeConnection();
      if (conn == 0 || link->state() != PeerState::kUpToDate) continue;
      auto waiter = sendLocked(*link, conn, wire::FrameHeader::of(wire::FrameType::kSnapshotPrepare), payload);
      if (waiter) prepare_acks.push_back(std::move(waiter));
    }
  }
  // On a failure before SNAPSHOT is queued: stop reporting writes to the stage (which removes
  // its work file), and tell the peers told to prepare that no SNAPSHOT follows, so theirs go too.
  auto unstage = [&] {
    std::lock_guard order(order_mu_);
    staging_.reset();
    abortPreparedLocked(payload);
  };
  if (stage) {
    Status copied = stage->precopy({});
    if (!copied.isOk()) {
      unstage();
      return copied;
    }
    // The peers copy at their own pace: ask each (PREPARE of the same name) until its precopy
    // has converged too, so that their cut is as small as this one; meanwhile keep this copy
    // converged. A peer that is slow past the limit is cut anyway (its hold is then longer).
    prepare_acks.clear();  // their first answers only said "started"
    std::vector<std::string> waiting;
    {
      std::lock_guard order(order_mu_);
      for (auto& link : links_) {
        if (link->activeConnection() != 0 && link->state() == PeerState::kUpToDate) {
          waiting.push_back(link->address().node);
        }
      }
    }
    const auto give_up = env_.clock->steadyNow() + 2 * env_.options.peer_timeout;
    while (!waiting.empty() && env_.clock->steadyNow() < give_up) {
      std::vector<std::pair<std::string, std::shared_ptr<AckWaiter>>> asked;
      {
        std::lock_guard order(order_mu_);
        for (auto& link : links_) {
          const uint64_t conn = link->activeConnection();
          if (conn == 0 || std::find(waiting.begin(), waiting.end(), link->address().node) == waiting.end()) continue;
          auto waiter = sendLocked(*link, conn, wire::FrameHeader::of(wire::FrameType::kSnapshotPrepare), payload);
          if (waiter) asked.emplace_back(link->address().node, std::move(waiter));
        }
      }
      std::vector<std::string> still;
      for (auto& [node, waiter] : asked) {
        const Status answer = waiter->waitFor(env_.options.peer_timeout);
        if (answer.code() == ErrorCode::kUnavailable) still.push_back(node);  // still copying; else ready or gone
      }
      waiting = std::move(still);
      if (waiting.empty()) break;
      std::this_thread::sleep_for(kPrecopyRecheck);  // pacing the questions, not synchronising
      if (Status again = stage->precopy({}); !again.isOk()) {
        unstage();
        return again;
      }
    }
    if (Status again = stage->precopy({}); !again.isOk()) {
      unstage();
      return again;
    }
  }
  // Written back before the pause, so that the flush inside it has little left to do.
  // Correctness does not depend on it: the flush inside the pause covers every applied write.
  if (Status flushed = local_->flush(); !flushed.isOk()) {
    unstage();
    return flushed;
  }
  {
    // Step 2, the pause: no write is applied while the ordering mutex is held. Every write
    // applied before is on the local device (flushed now) and queued to the peers ahead of
    // SNAPSHOT, so every copy is taken at this same point of the write order.
    std::lock_guard order(order_mu_);
    const auto pause_start = env_.clock->steadyNow();
    staging_.reset();
    if (!primary_ || closed_) return unavailable("not the primary of this volume");
    Status taken = local_->flush();
    if (taken.isOk() && stage) {
      taken = stage->cut();
      cut_stats = stage->cutStats();
    } else if (taken.isOk()) {
      taken = env_.options.take_snapshot(uuid, name);
    }
    if (!taken.isOk()) {
      abortPreparedLocked(payload);
      return taken;
    }
    for (auto& link : links_) {
      const uint64_t conn = link->activeConnection();
      if (conn == 0 || link->state() != PeerState::kUpToDate) continue;  // not up to date: no copy
      auto waiter = sendLocked(*link, conn, wire::FrameHeader::of(wire::FrameType::kSnapshot), payload);
      if (waiter) acks.emplace_back(link->address().node, std::move(waiter));
    }
    paused = env_.clock->steadyNow() - pause_start;
  }
  // Step 3, writes flowing again: the primary's copy is made durable and visible, the peers'
  // answers collected. A peer that fails or does not answer has no copy; its data is not in
  // question, so it is not dropped here (a dead peer is dropped by the next write).
  Status published = stage ? stage->publish() : Status::ok();
  const auto deadline = env_.clock->steadyNow() + env_.options.peer_timeout;
  for (auto& waiter : prepare_acks) {
    (void)waiter->waitFor(std::max<std::chrono::nanoseconds>(deadline - env_.clock->steadyNow(), std::chrono::nanoseconds(0)));
  }
  for (auto& [node, waiter] : acks) {
    auto remaining = std::max<std::chrono::nanoseconds>(deadline - env_.clock->steadyNow(), std::chrono::nanoseconds(0));
    Status st = waiter->waitFor(remaining);
    if (st.isOk()) {
      copies.push_back(node);
    } else {
      log::warn(kLog, "volume " + uuid + ": snapshot " + name + " on " + node + " failed: " + st.toString());
    }
  }
  RETURN_IF_ERROR(published);
  // "writes paused N us" is what bench/lifecycle reads: the time no write could be applied.
  log::info(kLog, "volume " + uuid + ": snapshot " + name + " taken on " + std::to_string(copies.size()) +
                      " node(s); writes paused " +
                      std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(paused).count()) +
                      " us (cut copied " + std::to_string(cut_stats.bytes) + " bytes in " +
                      std::to_string(cut_stats.ranges) + " range(s) after " +
                      std::to_string(cut_stats.precopy_passes) + " precopy pass(es))");
  return copies;
}

Status Volume::replicate(wire::FrameHeader header, std::span<const std::byte> payload,
                         const std::function<Status()>& apply) {
  std::vector<PendingAck> acks;
  bool quorum = false;
  size_t members = 0;  // diskful replicas when the write was applied, this one included
  {
    std::lock_guard order(order_mu_);
    if (!primary_ || closed_) return unavailable("not the primary of this volume");
    quorum = config().quorum;
    members = links_.size() + 1;
    if (quorum) {
      // Refuse before touching the local copy: a primary without a majority must not diverge.
      RETURN_IF_ERROR(checkQuorum(upToDateLocked(), members, "refused"));
    }
    // The initial generation means "never written" (a new device without metadata may claim
    // it): leave it before the first write.
    if (header.type != wire::FrameType::kFlush &&
        (needNewGenerationLocked() || generation() == initial_generation_)) {
      RETURN_IF_ERROR(newGenerationLocked());
    }
    Status applied = apply();
    // Reported even when it failed: part of the range may have been written.
    if (staging_) staging_->dirtied(header.offset, header.length);
    RETURN_IF_ERROR(applied);
    RETURN_IF_ERROR(enqueueAllLocked(header, payload, &acks));
  }
  size_t acked = 0;
  Status s = waitAcks(acks, &acked);
  Status durable = waitGenerationsDurable();
  if (s.isOk()) s = durable;
  if (quorum) {
    // Counted against the membership the write was applied with: a volume demoted or closed
    // meanwhile has no links left, and must not pass with itself alone.
    RETURN_IF_ERROR(checkQuorum(1 + acked, members, "lost while writing (the write may or may not be on the replicas)"));
  }
  return s;
}

size_t Volume::upToDateLocked() const {
  return 1 + static_cast<size_t>(std::count_if(links_.begin(), links_.end(), [](const auto& l) {
           return l->activeConnection() != 0 && l->state() == PeerState::kUpToDate;
         }));
}

Status Volume::waitGenerationsDurable() {
  while (true) {
    std::vector<PendingAck> pending;
    {
      std::lock_guard order(order_mu_);
      pending = generation_acks_;
    }
    if (pending.empty()) return Status::ok();
    Status st = waitAcks(pending);
    std::lock_guard order(order_mu_);
    std::erase_if(generation_acks_, [&](const PendingAck& a) {
      return std::any_of(pending.begin(), pending.end(),
                         [&](const PendingAck& p) { return p.waiter == a.waiter; });
    });
    if (!st.isOk()) return st;
  }
}

Status Volume::checkQuorum(size_t up, size_t members, const char* when) const {
  const size_t majority = members / 2 + 1;
  if (up >= majority) return Status::ok();
  return Status(ErrorCode::kUnavailable, "volume " + config().name + ": no quorum, " + when + ": " +
                                             std::to_string(up) + " of " + std::to_string(members) +
                                             " replicas up to date, " + std::to_string(majority) + " needed")
      .withReason("no_quorum");
}

Status Volume::enqueueAllLocked(wire::FrameHeader header, std::span<const std::byte> payload,
                                std::vector<PendingAck>* acks) {
  bool any = std::any_of(links_.begin(), links_.end(),
                         [](const std::shared_ptr<PeerLink>& l) { return l->activeConnection() != 0; });
  if (!any) return Status::ok();
  header.volume = id_;
  header.sequence = next_seq_++;
  // Encoded once for every peer.
  auto frame = std::make_shared<const std::vector<std::byte>>(wire::encodeFrame(header, payload));
  // A link whose connection broke but whose loss this volume has not processed yet (that needs
  // the ordering mutex, which the caller holds) refuses the frame: that peer misses it. It is
  // handled as lost with missed writes right here, so the generation moves on and the peer is
  // resynced when it returns, instead of coming back "up to date" without this frame.
  std::vector<std::pair<std::shared_ptr<PeerLink>, uint64_t>> missed;
  for (auto& link : links_) {
    uint64_t conn = link->activeConnection();
    if (conn == 0) continue;
    auto waiter = link->enqueue(conn, header.sequence, frame);
    if (!waiter) {
      missed.emplace_back(link, conn);
      continue;
    }
    if (acks) acks->push_back(PendingAck{link, conn, std::move(waiter), link->state() == PeerState::kUpToDate});
  }
  Status result;
  for (auto& [link, conn] : missed) {
    log::warn(kLog, "volume " + config().volume_uuid + ": peer " + link->address().node +
                        " dropped: its connection broke before this frame could be queued");
    Status lost = handleLostLocked(*link, conn, /*missed_writes=*/true);
    if (!lost.isOk()) result = lost;
  }
  return result;
}

Status Volume::waitAcks(std::vector<PendingAck>& acks, size_t* up_to_date_acks) {
  Status result;
  const auto deadline = env_.clock->steadyNow() + env_.options.peer_timeout;
  for (auto& a : acks) {
    auto remaining =
        std::max<std::chrono::nanoseconds>(deadline - env_.clock->steadyNow(), std::chrono::nanoseconds(0));
    Status st = a.waiter->waitFor(remaining);
    if (st.isOk()) {
      if (up_to_date_acks != nullptr && a.up_to_date) ++*up_to_date_acks;
      continue;
    }
    log::warn(kLog, "volume " + config().volume_uuid + ": peer " + a.link->address().node +
                        " dropped: " + st.toString());
    a.link->drop(a.conn);
    std::lock_guard order(order_mu_);
    Status lost = handleLostLocked(*a.link, a.conn, /*missed_writes=*/true);
    if (!lost.isOk()) result = lost;
  }
  return result;
}

bool Volume::needNewGenerationLocked() const {
  return std::any_of(links_.begin(), links_.end(), [this](const std::shared_ptr<PeerLink>& l) {
    return l->activeConnection() == 0 && excluded_.count(l->address().node) == 0;
  });
}

Status Volume::newGenerationLocked() {
  uint64_t old = generation();
  uint64_t g = 0;
  do {
    g = env_.new_generation();
  } while (g == 0 || g == old);
  {
    std::lock_guard meta(meta_mu_);
    ReplicaMetadata md = md_;
    advanceGeneration(md, g);
    RETURN_IF_ERROR(saveMetadataLocked(md).withContext("persist new generation"));
  }
  excluded_.clear();
  for (const auto& l : links_) {
    if (l->activeConnection() == 0) excluded_.insert(l->address().node);
  }
  log::info(kLog, "volume " + config().volume_uuid + ": new generation " + formatGeneration(g));
  // Writes after this point wait for these ACKs (waitGenerationsDurable).
  Status queued =
      enqueueAllLocked(wire::FrameHeader::of(wire::FrameType::kNewGeneration), wire::encodeGeneration(g),
                       &generation_acks_);
  notify();
  return queued;
}

Status Volume::handleLostLocked(PeerLink& link, uint64_t conn, bool missed_writes) {
  if (conn != 0 && link.activeConnection() == conn) {
    link.setActiveConnection(0);
    link.setState(PeerState::kDisconnected);
    notify();
    if (missed_writes && primary_ && !closed_) return newGenerationLocked();
    return Status::ok();
  }
  // Already handled; retry a generation change that could not be persisted then.
  if (primary_ && !closed_ && needNewGenerationLocked()) return newGenerationLocked();
  return Status::ok();
}

VolumeStatus Volume::status() const {
  VolumeStatus s;
  {
    std::lock_guard meta(meta_mu_);
    s.volume_uuid = config_.volume_uuid;
    s.name = config_.name;
    s.disk = md_.disk;
    s.generation = formatGeneration(md_.generation);
  }
  // Not under order_mu_: status stays readable while a write holds it.
  std::lock_guard links(links_view_mu_);
  s.primary = primary_;
  for (const auto& l : links_view_) {
    PeerStatus p;
    p.node = l->address().node;
    p.state = l->state();
    p.sync_done_bytes = l->syncDone();
    p.sync_total_bytes = l->syncTotal();
    s.peers.push_back(std::move(p));
  }
  return s;
}

// ---------------------------------------------------------------- peer links (primary)

wire::Hello Volume::helloFor() {
  std::lock_guard meta(meta_mu_);
  wire::Hello h;
  h.epoch = config_.epoch;
  h.generation = md_.generation;
  h.size_bytes = local_->sizeBytes();
  h.node = env_.options.node_name;
  h.history = md_.history;
  return h;
}

PeerLinkOwner::Connected Volume::onPeerConnected(PeerLink& link, uint64_t conn,
                                                 const wire::HelloReply& reply) {
  std::lock_guard order(order_mu_);
  bool member = std::any_of(links_.begin(), links_.end(),
                            [&](const std::shared_ptr<PeerLink>& l) { return l.get() == &link; });
  if (closed_ || !primary_ || !member) return Connected{};
  const std::string& node = link.address().node;
  const bool same =
      reply.disk == DiskState::kUpToDate && reply.generation == generation() && excluded_.count(node) == 0;
  link.setActiveConnection(conn);
  if (same) {
    link.setState(PeerState::kUpToDate);
    link.setSyncProgress(0, 0);
    log::info(kLog, "volume " + config().volume_uuid + ": peer " + node + " up to date");
    notify();
    return Connected{Decision::kUpToDate, nullptr};
  }
  // From here on the peer receives every write; SYNC_BEGIN precedes them in its stream.
  link.setState(PeerState::kSyncing);
  link.setSyncProgress(0, local_->sizeBytes());
  auto waiter = sendLocked(link, conn, wire::FrameHeader::of(wire::FrameType::kSyncBegin, 0, local_->sizeBytes()), {});
  log::info(kLog, "volume " + config().volume_uuid + ": full sync to " + node + " (peer generation " +
                      formatGeneration(reply.generation) + ", " + std::string(diskStateName(reply.disk)) +
                      ")");
  notify();
  return Connected{Decision::kSync, std::move(waiter)};
}

void Volume::onPeerRefused(PeerLink& link, const wire::HelloReply& reply) {
  if (!reply.diverged) return;
  log::error(kLog, "volume " + config().volume_uuid + ": split brain with " + link.address().node + " (its generation " +
                       formatGeneration(reply.generation) + " is not in this primary's history): not syncing it, " +
                       "its copy is kept until an operator resolves");
  notify();
}

std::shared_ptr<AckWaiter> Volume::sendLocked(PeerLink& link, uint64_t conn, wire::FrameHeader header,
                                              std::span<const std::byte> payload) {
  header.volume = id_;
  header.sequence = next_seq_++;
  return link.enqueue(conn, header.sequence,
                      std::make_shared<const std::vector<std::byte>>(wire::encodeFrame(header, payload)));
}

void Volume::onPeerLost(PeerLink& link, uint64_t conn) {
  std::lock_guard order(order_mu_);
  Status st = handleLostLocked(link, conn, link.hasOutstanding());
  if (!st.isOk()) log::error(kLog, "volume " + config().volume_uuid + ": " + st.toString());
}

uint64_t Volume::holeRunLocked(uint64_t offset, uint64_t chunk, uint64_t size) {
  // One chunk first (cheap where the volume is dense), then how far the hole goes.
  auto head = local_->extents(offset, chunk);
  if (!head.isOk() || head->empty() || !head->front().hole || head->front().length < chunk) return 0;
  const uint64_t window = std::min(kSyncZeroRunMax, size - offset);
  auto run = local_->extents(offset, window);
  if (!run.isOk() || run->empty() || !run->front().hole) return chunk;
  return std::max(chunk, run->front().length);
}

void Volume::runSync(PeerLink& link, uint64_t conn, std::shared_ptr<AckWaiter> sync_begin) {
  const auto timeout = env_.options.peer_timeout;
  auto lost = [&](const Status& why) {
    log::warn(kLog, "volume " + config().volume_uuid + ": sync to " + link.address().node +
                        " failed: " + why.toString());
    link.drop(conn);
    std::lock_guard order(order_mu_);
    Status st = handleLostLocked(link, conn, true);
    if (!st.isOk()) log::error(kLog, st.toString());
  };
  if (!sync_begin) return;
  if (Status st = sync_begin->waitFor(timeout); !st.isOk()) return lost(st);

  const uint64_t chunk = std::clamp<uint64_t>(env_.options.sync_chunk_bytes, 4096, wire::kMaxPayload);
  std::vector<std::byte> buf(chunk);
  // The size is re-read per chunk: a volume grown during the sync is synced to its new end
  // (the RESIZE frame precedes every later chunk on the stream).
  for (uint64_t off = 0, size = local_->sizeBytes(); off < size; size = local_->sizeBytes()) {
    uint64_t len = std::min(chunk, size - off);
    std::shared_ptr<AckWaiter> waiter;
    {
      // Read and enqueue under the ordering mutex: every write is either applied locally before
      // this read (the chunk carries it) or queued after this chunk (it overwrites it).
      std::lock_guard order(order_mu_);
      if (closed_ || !primary_ || link.activeConnection() != conn) return;
      // A run of holes (a thin volume's unwritten space) goes as one zero frame, unread: a
      // resync costs what the volume holds, not its size. Asked under the ordering mutex like
      // the read, so no write lands in between.
      if (const uint64_t hole = holeRunLocked(off, len, size); hole != 0) {
        len = hole;
        waiter = sendLocked(link, conn, wire::FrameHeader::of(wire::FrameType::kSyncZero, off, len), {});
      } else {
        std::span<std::byte> data(buf.data(), len);
        Status st = local_->read(off, data);
        if (!st.isOk()) {
          log::error(kLog, "sync read failed: " + st.toString());
          link.drop(conn);
          (void)handleLostLocked(link, conn, true);
          return;
        }
        waiter = allZero(data) ? sendLocked(link, conn, wire::FrameHeader::of(wire::FrameType::kSyncZero, off, len), {})
                               : sendLocked(link, conn, wire::FrameHeader::of(wire::FrameType::kSyncData, off, len), data);
      }
      if (!waiter) return;
    }
    if (Status st = waiter->waitFor(timeout); !st.isOk()) return lost(st);
    off += len;
    link.setSyncProgress(off, size);
    notify();
  }
  std::shared_ptr<AckWaiter> done;
  {
    std::lock_guard order(order_mu_);
    if (closed_ || !primary_ || link.activeConnection() != conn) return;
    done = sendLocked(link, conn, wire::FrameHeader::of(wire::FrameType::kSyncDone), wire::encodeGeneration(generation()));
    if (!done) return;
  }
  if (Status st = done->waitFor(timeout); !st.isOk()) return lost(st);
  std::lock_guard order(order_mu_);
  if (closed_ || !primary_ || link.activeConnection() != conn) return;
  link.setState(PeerState::kUpToDate);
  excluded_.erase(link.address().node);
  log::info(kLog, "volume " + config().volume_uuid + ": sync to " + link.address().node + " done");
  notify();
}

// ---------------------------------------------------------------- replica side

Result<uint64_t> Volume::acceptSession(const wire::Hello& hello, std::shared_ptr<net::Socket> socket,
                                       wire::HelloReply* reply) {
  std::lock_guard replica(replica_mu_);
  if (closed_) return unavailable("volume is being removed");
  if (primary_) return Status(ErrorCode::kConflict, "volume is primary on this node");
  if (hello.size_bytes > local_->sizeBytes()) {
    return Status(ErrorCode::kInvalidArgument, "replica device smaller than the primary's");
  }
  {
    std::lock_guard meta(meta_mu_);
    const uint64_t highest = std::max(md_.highest_epoch, config_.epoch);
    if (hello.epoch < highest) {
      return Status(ErrorCode::kPermissionDenied,
                    "stale writer epoch " + std::to_string(hello.epoch) + " < " + std::to_string(highest));
    }
    // Split-brain detection: this copy may be overwritten only if it holds nothing the primary
    // lacks — it is Inconsistent (nothing to keep), at the primary's generation, at one the
    // primary had before (behind it), at the initial generation (never written), or the
    // operator chose to discard exactly this generation.
    const uint64_t g = md_.generation;
    const bool related = md_.disk == DiskState::kInconsistent || g == hello.generation ||
                         g == initial_generation_ ||
                         std::find(hello.history.begin(), hello.history.end(), g) != hello.history.end();
    if (!related) {
      if (config_.discard_generation != formatGeneration(g)) {
        reply->generation = g;
        reply->disk = md_.disk;
        reply->diverged = true;
        if (split_brain_logged_ != hello.generation) {  // the primary retries: say it once per primary generation
          split_brain_logged_ = hello.generation;
          log::error(kLog, "volume " + config_.volume_uuid + ": split brain: refusing " + hello.node + " (generation " +
                               formatGeneration(hello.generation) + "), whose history lacks this copy's generation " +
                               formatGeneration(g) + "; the copy is kept until an operator resolves");
        }
        return Status(ErrorCode::kConflict, "split brain: this copy's generation " + formatGeneration(g) +
                                                " is not in the primary's history");
      }
      log::warn(kLog, "volume " + config_.volume_uuid + ": split brain resolved by the operator: discarding this copy (generation " +
                          formatGeneration(g) + ") for a full sync from " + hello.node);
    }
    ReplicaMetadata md = md_;
    md.highest_epoch = hello.epoch;
    md.clean = false;  // acknowledged writes may sit unflushed from now on
    RETURN_IF_ERROR(saveMetadataLocked(md));
    reply->generation = md_.generation;
    reply->disk = md_.disk;
  }
  reply->status = ErrorCode::kOk;
  if (active_socket_) active_socket_->shutdown();  // a newer primary connection replaces it
  active_session_ = ++session_counter_;
  replica_stage_.reset();
  active_socket_ = std::move(socket);
  session_epoch_ = hello.epoch;
  session_lineage_ = hello.history;
  session_lineage_.insert(session_lineage_.begin(), hello.generation);
  log::info(kLog, "volume " + config().volume_uuid + ": session from " + hello.node);
  notify();
  return active_session_;
}

void Volume::demoteDiskLocked(DiskState state, const char* why) {
  ReplicaMetadata md = md_;
  if (md.disk == DiskState::kInconsistent || md.disk == state) return;
  md.disk = state;
  log::error(kLog, "volume " + config_.volume_uuid + ": " + why + ": copy " + std::string(diskStateName(state)));
  Status st = saveMetadataLocked(md);
  if (!st.isOk()) {
    md_.disk = state;  // at least never report the copy better than it is
    log::error(kLog, "volume " + config_.volume_uuid + ": " + st.toString());
  }
}

ErrorCode Volume::prepareSnapshotLocked(const std::string& name) {
  // The same name again is the primary asking whether the precopy has converged.
  if (replica_stage_ && replica_stage_->name == name) {
    return replica_stage_->ready->load() ? ErrorCode::kOk : ErrorCode::kUnavailable;
  }
  replica_stage_.reset();  // one announced earlier whose SNAPSHOT never came
  if (!env_.options.stage_snapshot) return ErrorCode::kOk;  // SNAPSHOT takes it at the cut
  auto stage = env_.options.stage_snapshot(config().volume_uuid, name);
  if (!stage.isOk()) {
    // Not fatal to the session: SNAPSHOT tries again at the cut and reports what fails then.
    log::warn(kLog, "volume " + config().volume_uuid + ": SNAPSHOT_PREPARE " + name + ": " + stage.status().toString());
    return ErrorCode::kOk;
  }
  auto rs = std::make_unique<ReplicaStage>();
  rs->name = name;
  rs->stage = std::shared_ptr<devices::SnapshotStaging>(std::move(stage).value());
  rs->ready = std::make_shared<std::atomic<bool>>(false);
  // Copies until SNAPSHOT stops it: a pass whenever enough was written again, so that the cut
  // stays small however long the primary takes to ask for it.
  rs->precopy = std::jthread([stage = rs->stage, ready = rs->ready, local = local_, uuid = config().volume_uuid,
                              name](std::stop_token stop) {
    std::mutex mu;
    std::condition_variable_any cv;
    while (!stop.stop_requested()) {
      Status st = stage->precopy(stop);
      // Written back now, so that the flush SNAPSHOT starts with has little left to do.
      if (st.isOk()) st = local->flush();
      ready->store(true);  // a failed precopy leaves the work to the cut
      if (!st.isOk()) {
        log::warn(kLog, "volume " + uuid + ": precopy of snapshot " + name + ": " + st.toString());
        return;
      }
      std::unique_lock lock(mu);
      cv.wait_for(lock, stop, kPrecopyRecheck, [] { return false; });
    }
  });
  replica_stage_ = std::move(rs);
  return ErrorCode::kOk;
}

Status Volume::takeSnapshotLocked(const std::string& name) {
  const auto held_from = env_.clock->steadyNow();
  std::unique_ptr<ReplicaStage> rs = std::move(replica_stage_);
  if (rs && rs->name == name) {
    rs->precopy.request_stop();  // returns after the range it is copying
    rs->precopy.join();
    const auto joined = env_.clock->steadyNow();
    // Every frame before this one is applied: flush, then the cut.
    RETURN_IF_ERROR(local_->flush());
    const auto flushed = env_.clock->steadyNow();
    RETURN_IF_ERROR(rs->stage->cut());
    const auto done = env_.clock->steadyNow();
    // "applying held N us" is what bench/lifecycle reads: later frames (and so the primary's
    // acknowledgements of later writes) waited this long.
    auto us = [](auto d) { return std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(d).count()); };
    const auto stats = rs->stage->cutStats();
    log::info(kLog, "volume " + config().volume_uuid + ": snapshot " + name + " taken as a replica; applying held " +
                        us(done - held_from) + " us (precopy stop " + us(joined - held_from) + ", flush " +
                        us(flushed - joined) + ", cut " + us(done - flushed) + " copying " +
                        std::to_string(stats.bytes) + " bytes in " + std::to_string(stats.ranges) + " range(s))");
    // Its contents are fixed now; making it durable and visible needs no more of the volume, so
    // frames flow again meanwhile. The ACK says "cut"; where copies exist is what the nodes'
    // reports list once published (docs/replication.md, "Snapshots"). close() waits for it, so a
    // volume is never removed under a snapshot being published. Assigning joins the previous one.
    publisher_ = std::jthread([stage = std::move(rs->stage), uuid = config().volume_uuid, name] {
      Status st = stage->publish();
      if (!st.isOk()) log::error(kLog, "volume " + uuid + ": snapshot " + name + " not published: " + st.toString());
    });
    return Status::ok();
  }
  rs.reset();
  RETURN_IF_ERROR(local_->flush());
  if (!env_.options.take_snapshot) return Status(ErrorCode::kUnsupported, "this node cannot take snapshots");
  return env_.options.take_snapshot(config().volume_uuid, name);
}

Result<ErrorCode> Volume::applyReplicated(uint64_t session, const wire::Frame& frame) {
  std::lock_guard replica(replica_mu_);
  if (closed_ || primary_ || session != active_session_) return unavailable("session no longer active");
  {
    // Fencing on every frame: a writer whose epoch is older than the highest this replica has
    // seen (a newer primary's HELLO, or the controller's config) was replaced.
    std::lock_guard meta(meta_mu_);
    const uint64_t highest = std::max(md_.highest_epoch, config_.epoch);
    if (session_epoch_ < highest) {
      return Status(ErrorCode::kPermissionDenied, "stale writer epoch " + std::to_string(session_epoch_) + " < " +
                                                      std::to_string(highest) + ": frame refused");
    }
  }
  const wire::FrameHeader& h = frame.header;
  const bool fua = (h.flags & wire::kFlagFua) != 0;
  Status st;
  std::optional<ErrorCode> ack;  // answered without being an apply failure (SNAPSHOT_PREPARE)
  switch (h.type) {
    case wire::FrameType::kWrite:
      st = local_->write(h.offset, frame.payload, fua);
      break;
    case wire::FrameType::kTrim:  // as on the primary: copies must not diverge
    case wire::FrameType::kWriteZeroes:
      st = local_->writeZeroes(h.offset, h.length, fua);
      break;
    case wire::FrameType::kFlush:
      st = local_->flush();
      break;
    case wire::FrameType::kSyncData:
      st = local_->write(h.offset, frame.payload, false);
      break;
    case wire::FrameType::kSyncZero:
      st = zeroAllocated(*local_, h.offset, h.length);
      break;
    case wire::FrameType::kResize:
      st = awaitLocalSize(h.length);
      break;
    case wire::FrameType::kSnapshotPrepare: {
      const std::string name(reinterpret_cast<const char*>(frame.payload.data()), frame.payload.size());
      if ((h.flags & wire::kFlagAbort) != 0) {
        if (replica_stage_ && replica_stage_->name == name) replica_stage_.reset();  // its work file goes too
        ack = ErrorCode::kOk;
      } else {
        ack = prepareSnapshotLocked(name);
      }
      break;
    }
    case wire::FrameType::kSnapshot:
      st = takeSnapshotLocked(std::string(reinterpret_cast<const char*>(frame.payload.data()), frame.payload.size()));
      break;
    case wire::FrameType::kSyncBegin: {
      std::lock_guard meta(meta_mu_);
      ReplicaMetadata md = md_;
      md.disk = DiskState::kInconsistent;
      st = saveMetadataLocked(md);
      break;
    }
    case wire::FrameType::kSyncDone:
    case wire::FrameType::kNewGeneration: {
      ASSIGN_OR_RETURN(uint64_t g, wire::decodeGeneration(frame.payload));
      // Data first, then the claim that it is complete.
      st = local_->flush();
      if (st.isOk()) {
        std::lock_guard meta(meta_mu_);
        ReplicaMetadata md = md_;
        if (h.type == wire::FrameType::kSyncDone) {
          // The copy now equals the primary's: it takes over the primary's history too.
          md.generation = g;
          md.history = session_lineage_;
          std::erase(md.history, g);
          if (md.history.size() > kMaxHistory) md.history.resize(kMaxHistory);
          md.disk = DiskState::kUpToDate;
        } else {
          advanceGeneration(md, g);
        }
        st = saveMetadataLocked(md);
        if (st.isOk() && (session_lineage_.empty() || session_lineage_.front() != g)) {
          session_lineage_.insert(session_lineage_.begin(), g);
        }
      }
      break;
    }
    default:
      return Status(ErrorCode::kProtocol,
                    "unexpected " + std::string(wire::frameTypeName(h.type)) + " in a replica session");
  }
  if (replica_stage_ && h.length != 0 &&
      (h.type == wire::FrameType::kWrite || h.type == wire::FrameType::kTrim ||
       h.type == wire::FrameType::kWriteZeroes || h.type == wire::FrameType::kSyncData ||
       h.type == wire::FrameType::kSyncZero)) {
    replica_stage_->stage->dirtied(h.offset, h.length);  // even when it failed: part may be written
  }
  if (!st.isOk() && h.type == wire::FrameType::kSnapshot) {
    // The copy's data is untouched: only the snapshot is missing (the primary records that).
    log::warn(kLog, "volume " + config().volume_uuid + ": SNAPSHOT failed: " + st.toString());
  } else if (!st.isOk() && h.type == wire::FrameType::kResize) {
    // Nothing was written: the copy is intact, only too small to follow. The primary drops
    // this session (missed writes) and resyncs the copy once its node has grown it.
    log::warn(kLog, "volume " + config().volume_uuid + ": RESIZE failed: " + st.toString());
  } else if (!st.isOk()) {
    log::warn(kLog, "volume " + config().volume_uuid + ": " + std::string(wire::frameTypeName(h.type)) +
                        " failed: " + st.toString());
    // The copy no longer holds what the primary has: a failed flush may have lost acknowledged
    // writes (Outdated); a failed write leaves a range of unknown content (Inconsistent).
    std::lock_guard meta(meta_mu_);
    const bool only_durability = h.type == wire::FrameType::kFlush || h.type == wire::FrameType::kSyncDone ||
                                 h.type == wire::FrameType::kNewGeneration;
    demoteDiskLocked(only_durability ? DiskState::kOutdated : DiskState::kInconsistent,
                     (std::string(wire::frameTypeName(h.type)) + " failed").c_str());
  }
  if (h.type == wire::FrameType::kSyncBegin || h.type == wire::FrameType::kSyncDone ||
      h.type == wire::FrameType::kNewGeneration || !st.isOk()) {
    notify();
  }
  return ack.value_or(st.code());
}

void Volume::endSession(uint64_t session) {
  std::lock_guard replica(replica_mu_);
  if (session == 0 || session != active_session_) return;
  active_session_ = 0;
  replica_stage_.reset();
  active_socket_.reset();
  flushAndMarkClean("end of session");
}

void Volume::flushAndMarkClean(const char* what) {
  Status st = local_->flush();
  if (st.isOk()) {
    std::lock_guard meta(meta_mu_);
    ReplicaMetadata md = md_;
    md.clean = true;
    st = saveMetadataLocked(md);
  } else {
    // Acknowledged writes may be lost: this copy must not claim to be up to date.
    std::lock_guard meta(meta_mu_);
    demoteDiskLocked(DiskState::kOutdated, (std::string(what) + ": flush failed").c_str());
  }
  if (!st.isOk()) log::warn(kLog, std::string(what) + ": " + st.toString());
  notify();
}

}  // namespace tandem::replication
