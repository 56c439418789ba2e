// In-process clusters: three ReplicationServices on loopback port 0, each a "node" with a
// MemoryBlockDevice (behind a GatedBlockDevice so a test can hold or fail a replica's disk).
#include "tandem/replication/replication_service.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sys/stat.h>
#include <thread>

#include "gated_block_device.h"
#include "metadata/replica_metadata.h"
#include "net/frame_io.h"
#include "tandem/common/uuid.h"
#include "tandem/devices/fault_injection.h"
#include "tandem/devices/file_block_device.h"
#include "tandem/devices/memory_block_device.h"
#include "wire/messages.h"

namespace tandem::replication {
namespace {

using namespace std::chrono_literals;
using testing::GatedBlockDevice;

constexpr uint64_t kBlock = 4096;
constexpr auto kWait = 30s;

std::vector<std::byte> pattern(size_t n, uint32_t seed) {
  std::vector<std::byte> v(n);
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1103515245u + 12345u;
    v[i] = static_cast<std::byte>(x >> 24);
  }
  return v;
}

std::vector<std::byte> readMemory(devices::MemoryBlockDevice& m, uint64_t offset, uint64_t length) {
  std::vector<std::byte> out(length);
  EXPECT_TRUE(m.read(offset, out).isOk());
  return out;
}

struct Node {
  std::string name;
  std::shared_ptr<devices::MemoryBlockDevice> memory;
  std::shared_ptr<devices::FaultInjectingBlockDevice> faulty;  // over memory
  std::shared_ptr<GatedBlockDevice> device;                    // over faulty; given to the service
  std::string metadata;
  uint16_t port = 0;
  std::unique_ptr<ReplicationService> service;
  bool new_device = true;          // the next start is the first on this device
  std::string discard_generation;  // VolumeConfig::discard_generation
};

// A two-step stage (tandem/devices/snapshot_staging.h) over a node's memory device: precopy
// copies the whole image, the cut re-copies only the 4 KiB blocks reported through dirtied().
// So a write the engine applies between precopy and the cut without reporting it is missing from
// the snapshot, which the tests below detect.
class CopyingStage final : public devices::SnapshotStaging {
 public:
  using Publish = std::function<void(std::vector<std::byte>)>;
  // `after_precopy`, when set, runs at the end of every precopy, `on_cut` at the cut (tests hold
  // the stage back there and record the order of events).
  // `live` counts the stages in existence; `fail_precopy` makes precopy fail with kIo.
  CopyingStage(std::shared_ptr<devices::MemoryBlockDevice> memory, Publish publish,
               std::function<void()> after_precopy = {}, std::function<void()> on_cut = {},
               std::shared_ptr<std::atomic<int>> live = {}, bool fail_precopy = false)
      : memory_(std::move(memory)),
        publish_(std::move(publish)),
        after_precopy_(std::move(after_precopy)),
        on_cut_(std::move(on_cut)),
        live_(std::move(live)),
        fail_precopy_(fail_precopy) {
    if (live_) ++*live_;
  }
  ~CopyingStage() override {
    if (live_) --*live_;
  }
  void dirtied(uint64_t offset, uint64_t length) override {
    std::lock_guard lock(mu_);
    for (uint64_t b = offset / kBlock; b <= (offset + length - 1) / kBlock; ++b) dirty_.insert(b);
  }
  Status precopy(std::stop_token) override {
    if (fail_precopy_) return Status(ErrorCode::kIo, "precopy failed (test)");
    {
      std::lock_guard lock(mu_);
      dirty_.clear();  // before the copy: a write after this is reported again
    }
    image_ = memory_->snapshot();
    if (after_precopy_) after_precopy_();
    return Status::ok();
  }
  Status cut() override {
    if (on_cut_) on_cut_();
    std::set<uint64_t> dirty;
    {
      std::lock_guard lock(mu_);
      dirty.swap(dirty_);
    }
    if (image_.empty()) image_ = memory_->snapshot();  // precopy skipped
    for (uint64_t b : dirty) {
      auto block = readMemory(*memory_, b * kBlock, kBlock);
      std::copy(block.begin(), block.end(), image_.begin() + static_cast<std::ptrdiff_t>(b * kBlock));
      stats_.bytes += kBlock;
      stats_.ranges += 1;
    }
    return Status::ok();
  }
  Status publish() override {
    publish_(std::move(image_));
    return Status::ok();
  }
  CutStats cutStats() const override { return stats_; }

 private:
  std::shared_ptr<devices::MemoryBlockDevice> memory_;
  Publish publish_;
  std::function<void()> after_precopy_;
  std::function<void()> on_cut_;
  std::shared_ptr<std::atomic<int>> live_;
  bool fail_precopy_;
  std::mutex mu_;
  std::set<uint64_t> dirty_;
  std::vector<std::byte> image_;
  CutStats stats_;
};

class ReplicationServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tandem-repl-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    uuid_ = newUuid();
  }

  void TearDown() override {
    for (auto& n : nodes_) {
      if (n.device) n.device->setMode(GatedBlockDevice::Mode::kPass);
      if (n.faulty) n.faulty->faults().clear();
      if (n.service) n.service->stop();
    }
    std::filesystem::remove_all(dir_);
  }

  // Three nodes; node 0 is the primary. Replicas start first so the primary finds them.
  void createNodes(uint64_t size, uint32_t chunk = 64 * 1024) {
    size_ = size;
    chunk_ = chunk;
    for (int i = 0; i < 3; ++i) {
      nodes_[i].name = "node-" + std::to_string(i);
      nodes_[i].memory = std::make_shared<devices::MemoryBlockDevice>(size);
      nodes_[i].faulty = std::make_shared<devices::FaultInjectingBlockDevice>(nodes_[i].memory);
      nodes_[i].device = std::make_shared<GatedBlockDevice>(nodes_[i].faulty);
      nodes_[i].metadata = dir_ + "/" + nodes_[i].name + ".md";
    }
    startNode(1);
    startNode(2);
    startNode(0);
  }

  VolumeConfig configFor(int i) const {
    VolumeConfig c;
    c.volume_uuid = uuid_;
    c.name = "vol";
    c.size_bytes = size_;
    c.primary = i == primary_;
    c.epoch = epoch_;
    c.quorum = quorum_;
    c.new_device = nodes_[i].new_device;
    c.discard_generation = nodes_[i].discard_generation;
    if (c.primary) {
      for (int p = 0; p < 3; ++p) {
        if (p != i) c.peers.push_back(PeerAddress{nodes_[p].name, "127.0.0.1", nodes_[p].port});
      }
    }
    return c;
  }

  // Gives node i a new, empty device (a replaced disk); its metadata file stays.
  void replaceDevice(int i) {
    Node& n = nodes_[i];
    n.memory = std::make_shared<devices::MemoryBlockDevice>(size_);
    n.faulty = std::make_shared<devices::FaultInjectingBlockDevice>(n.memory);
    n.device = std::make_shared<GatedBlockDevice>(n.faulty);
    n.new_device = true;
  }

  // Starts (or restarts, on the same port, metadata and device) node i.
  void startNode(int i) {
    Node& n = nodes_[i];
    ServiceOptions o;
    o.node_name = n.name;
    o.port = n.port;
    o.reconnect_interval = 20ms;
    o.peer_timeout = 5000ms;
    o.sync_chunk_bytes = chunk_;
    // The stand-in for a provider's snapshot: a copy of the node's device at that moment.
    o.take_snapshot = [this, i](const std::string& volume, const std::string& snapshot) {
      if (volume != uuid_) return Status(ErrorCode::kNotFound, "unknown volume");
      std::lock_guard lock(snapshots_mu_);
      snapshots_[i][snapshot] = nodes_[i].memory->snapshot();
      return Status::ok();
    };
    if (staged_snapshots_) {
      o.stage_snapshot = [this, i](const std::string& volume, const std::string& snapshot)
          -> Result<std::unique_ptr<devices::SnapshotStaging>> {
        if (volume != uuid_) return Status(ErrorCode::kNotFound, "unknown volume");
        return std::unique_ptr<devices::SnapshotStaging>(
            std::make_unique<CopyingStage>(nodes_[i].memory, [this, i, snapshot](std::vector<std::byte> image) {
              std::lock_guard lock(snapshots_mu_);
              snapshots_[i][snapshot] = std::move(image);
              snapshots_cv_.notify_all();
            },
            [this, i] { if (after_precopy_hook_) after_precopy_hook_(i); },
            [this, i] { if (on_cut_hook_) on_cut_hook_(i); }, live_stages_[i],
            i == primary_ && fail_primary_precopy_));
      };
    }
    auto s = ReplicationService::start(o, RealClock::instance());
    ASSERT_TRUE(s.isOk()) << s.status().toString();
    n.service = std::move(*s);
    n.port = n.service->port();
    Status st = n.service->addVolume(configFor(i), n.device, n.metadata);
    ASSERT_TRUE(st.isOk()) << st.toString();
    n.new_device = false;
  }

  void stopNode(int i) {
    nodes_[i].service->stop();
    nodes_[i].service.reset();
  }

  std::optional<VolumeStatus> volumeStatus(int i) {
    for (auto& v : nodes_[i].service->status()) {
      if (v.volume_uuid == uuid_) return v;
    }
    return std::nullopt;
  }

  PeerStatus peerStatus(const std::string& node) {
    auto v = volumeStatus(0);
    if (!v) return {};
    for (auto& p : v->peers) {
      if (p.node == node) return p;
    }
    ADD_FAILURE() << "no peer " << node;
    return {};
  }

  bool waitVolume(int i, const std::function<bool(const VolumeStatus&)>& pred) {
    return nodes_[i].service->waitForStatus(
        [&](const std::vector<VolumeStatus>& all) {
          for (auto& v : all) {
            if (v.volume_uuid == uuid_) return pred(v);
          }
          return false;
        },
        kWait);
  }

  bool waitAllUpToDate() {
    return waitVolume(0, [](const VolumeStatus& v) {
      if (v.peers.empty()) return false;
      for (auto& p : v.peers) {
        if (p.state != PeerState::kUpToDate) return false;
      }
      return true;
    });
  }

  // Starts replica i with its sync held, checks that it is Inconsistent, then lets the full
  // sync run and checks that it ends with identical copies.
  void expectStartsInconsistentAndIsFullySynced(int i) {
    nodes_[i].device->setMode(GatedBlockDevice::Mode::kPause);
    startNode(i);
    EXPECT_EQ(volumeStatus(i)->disk, DiskState::kInconsistent);
    nodes_[i].device->setMode(GatedBlockDevice::Mode::kPass);
    ASSERT_TRUE(waitAllUpToDate());
    EXPECT_EQ(peerStatus(nodes_[i].name).sync_total_bytes, size_);
    expectReplicasIdentical();
  }

  // Waits until node `on` (a primary) sees peer `peer` in `state`.
  bool waitPeerState(int on, const std::string& peer, PeerState state) {
    return waitVolume(on, [&](const VolumeStatus& v) {
      return std::any_of(v.peers.begin(), v.peers.end(),
                         [&](const PeerStatus& p) { return p.node == peer && p.state == state; });
    });
  }

  std::shared_ptr<devices::BlockDevice> primary() { return nodes_[primary_].service->primaryDevice(uuid_); }

  void expectReplicasIdentical() {
    auto a = nodes_[0].memory->snapshot();
    for (int r : {1, 2}) {
      auto b = nodes_[r].memory->snapshot();
      for (size_t off = 0; off < a.size() && off < b.size(); off += kBlock) {
        if (!std::equal(a.begin() + off, a.begin() + off + kBlock, b.begin() + off)) {
          ADD_FAILURE() << "node-" << r << " differs first at block " << off / kBlock;
          break;
        }
      }
    }
    EXPECT_TRUE(a == nodes_[1].memory->snapshot()) << "node-1 differs from the primary";
    EXPECT_TRUE(a == nodes_[2].memory->snapshot()) << "node-2 differs from the primary";
  }

  std::mutex snapshots_mu_;
  std::condition_variable snapshots_cv_;  // a staged snapshot was published (replicas: after their ACK)
  // Node i's snapshots once `name` is among them (a replica publishes after it ACKs), or as they are.
  std::map<std::string, std::vector<std::byte>> snapshotsOnceHeld(int i, const std::string& name) {
    std::unique_lock lock(snapshots_mu_);
    snapshots_cv_.wait_for(lock, kWait, [&] { return snapshots_[i].count(name) > 0; });
    return snapshots_[i];
  }
  std::map<int, std::map<std::string, std::vector<std::byte>>> snapshots_;  // by node: name -> contents
  std::string dir_;
  std::string uuid_;
  uint64_t size_ = 0;
  uint32_t chunk_ = 64 * 1024;
  bool quorum_ = false;
  bool staged_snapshots_ = false;  // nodes give the engine stage_snapshot (CopyingStage)
  std::function<void(int node)> after_precopy_hook_;  // every CopyingStage runs it after each precopy
  std::function<void(int node)> on_cut_hook_;         // ...and at its cut
  bool fail_primary_precopy_ = false;                 // the primary's CopyingStage fails its precopy
  std::shared_ptr<std::atomic<int>> live_stages_[3] = {std::make_shared<std::atomic<int>>(0),
                                                       std::make_shared<std::atomic<int>>(0),
                                                       std::make_shared<std::atomic<int>>(0)};
  int primary_ = 0;
  uint64_t epoch_ = 1;
  Node nodes_[3];
};

// A write, trim or zeroing that returns OK on the primary is already on every replica.
TEST_F(ReplicationServiceTest, WritesReachEveryReplicaBeforeCompletion) {
  createNodes(1 << 20);
  ASSERT_TRUE(waitAllUpToDate());
  auto dev = primary();
  ASSERT_NE(dev, nullptr);
  for (uint32_t k = 0; k < 32; ++k) {
    const uint64_t off = (k * 37 % 256) * kBlock;
    auto data = pattern(kBlock, k);
    ASSERT_TRUE(dev->write(off, data, false).isOk());
    for (int r : {1, 2}) ASSERT_EQ(readMemory(*nodes_[r].memory, off, kBlock), data) << "replica " << r;
  }
  ASSERT_TRUE(dev->writeZeroes(0, 8 * kBlock, false).isOk());
  ASSERT_TRUE(dev->trim(8 * kBlock, 8 * kBlock, false).isOk());
  for (int r : {1, 2}) {
    EXPECT_EQ(readMemory(*nodes_[r].memory, 0, 16 * kBlock), std::vector<std::byte>(16 * kBlock));
  }
  std::vector<std::byte> back(kBlock);
  ASSERT_TRUE(dev->read(37 * kBlock, back).isOk());
  EXPECT_EQ(back, pattern(kBlock, 1));
  expectReplicasIdentical();
  EXPECT_EQ(peerStatus("node-1").sync_total_bytes, 0u);  // created together: no initial sync
}

// FUA writes are FUA on every replica; a flush flushes every replica before it completes.
TEST_F(ReplicationServiceTest, FuaAndFlushReachEveryReplica) {
  createNodes(1 << 20);
  ASSERT_TRUE(waitAllUpToDate());
  auto dev = primary();
  uint64_t fua[3], flushes[3];
  for (int i = 0; i < 3; ++i) fua[i] = nodes_[i].memory->fuaWriteCount();
  ASSERT_TRUE(dev->write(0, pattern(kBlock, 9), true).isOk());
  for (int i = 0; i < 3; ++i) EXPECT_EQ(nodes_[i].memory->fuaWriteCount(), fua[i] + 1) << i;
  // (The first write moved the volume off its initial generation, which flushed the replicas.)
  for (int i = 0; i < 3; ++i) flushes[i] = nodes_[i].memory->flushCount();
  ASSERT_TRUE(dev->flush().isOk());
  for (int i = 0; i < 3; ++i) EXPECT_EQ(nodes_[i].memory->flushCount(), flushes[i] + 1) << i;
}

// A stopped replica does not stop writes; the primary moves to a new generation, which the
// remaining up-to-date replica adopts.
TEST_F(ReplicationServiceTest, StoppedReplicaDoesNotBlockWritesAndGenerationChanges) {
  createNodes(1 << 20);
  ASSERT_TRUE(waitAllUpToDate());
  const std::string gen0 = volumeStatus(0)->generation;
  EXPECT_EQ(volumeStatus(1)->generation, gen0);
  stopNode(1);
  auto dev = primary();
  ASSERT_TRUE(dev->write(0, pattern(kBlock, 1), false).isOk());
  ASSERT_TRUE(dev->write(kBlock, pattern(kBlock, 2), true).isOk());
  const std::string gen1 = volumeStatus(0)->generation;
  EXPECT_NE(gen1, gen0);
  EXPECT_NE(peerStatus("node-1").state, PeerState::kUpToDate);
  EXPECT_TRUE(waitVolume(2, [&](const VolumeStatus& v) { return v.generation == gen1; }));
  EXPECT_EQ(readMemory(*nodes_[2].memory, kBlock, kBlock), pattern(kBlock, 2));
  auto md = loadMetadata(nodes_[1].metadata);
  ASSERT_TRUE(md.isOk() && md->has_value());
  EXPECT_EQ(formatGeneration((*md)->generation), gen0);
}

// With quorum, the primary writes while a majority (itself and one of two replicas) is up to
// date; without one it refuses writes and flushes, and a refused write is not applied locally.
// When the replicas return and resync, writes work again and the copies end identical.
TEST_F(ReplicationServiceTest, QuorumRefusesWritesWithoutAMajority) {
  quorum_ = true;
  createNodes(1 << 20);
  ASSERT_TRUE(waitAllUpToDate());
  auto dev = primary();
  stopNode(1);
  ASSERT_TRUE(dev->write(0, pattern(kBlock, 1), false).isOk()) << "2 of 3 is a majority";
  stopNode(2);
  Status lost = dev->write(kBlock, pattern(kBlock, 2), false);  // finds node-2 gone, at once or by its ACK
  EXPECT_EQ(lost.code(), ErrorCode::kUnavailable) << lost.toString();
  EXPECT_EQ(lost.reason(), "no_quorum");
  Status refused = dev->write(2 * kBlock, pattern(kBlock, 3), true);
  EXPECT_EQ(refused.code(), ErrorCode::kUnavailable);
  EXPECT_NE(refused.message().find("1 of 3 replicas up to date, 2 needed"), std::string::npos) << refused.message();
  EXPECT_EQ(readMemory(*nodes_[0].memory, 2 * kBlock, kBlock), std::vector<std::byte>(kBlock))
      << "a refused write must not reach the primary's own copy";
  EXPECT_EQ(dev->flush().code(), ErrorCode::kUnavailable);

  startNode(1);
  startNode(2);
  ASSERT_TRUE(waitAllUpToDate());
  ASSERT_TRUE(dev->write(2 * kBlock, pattern(kBlock, 4), true).isOk());
  ASSERT_TRUE(dev->flush().isOk());
  expectReplicasIdentical();
}

// A replica whose connection breaks while a write holds the primary's ordering mutex: its link
// already knows it is broken, but the volume cannot process the loss until the write lets go of
// the mutex. The write must count that peer as lost (new generation), never skip it silently;
// otherwise the replica would come back "up to date" without the write.
TEST_F(ReplicationServiceTest, PeerBrokenDuringAWriteIsLostNotSkipped) {
  createNodes(1 << 20);
  ASSERT_TRUE(waitAllUpToDate());
  auto dev = primary();
  const std::string gen0 = volumeStatus(0)->generation;
  nodes_[0].device->setMode(GatedBlockDevice::Mode::kPause);  // the write will hold the mutex
  std::thread writer([&] { EXPECT_TRUE(dev->write(0, pattern(kBlock, 7), false).isOk()); });
  ASSERT_TRUE(nodes_[0].device->waitUntilBlocked(kWait));
  stopNode(1);  // the link sees EOF; the volume cannot act yet
  ASSERT_TRUE(waitPeerState(0, "node-1", PeerState::kDisconnected)) << "the primary's link never saw node-1 go";
  nodes_[0].device->setMode(GatedBlockDevice::Mode::kPass);
  writer.join();
  EXPECT_NE(volumeStatus(0)->generation, gen0) << "the write must move the primary to a new generation";
  startNode(1);
  ASSERT_TRUE(waitAllUpToDate());
  EXPECT_EQ(readMemory(*nodes_[1].memory, 0, kBlock), pattern(kBlock, 7)) << "node-1 came back without the write";
  expectReplicasIdentical();
}

// Without quorum (the default) the primary goes on alone.
TEST_F(ReplicationServiceTest, WithoutQuorumThePrimaryWritesAlone) {
  createNodes(1 << 20);
  ASSERT_TRUE(waitAllUpToDate());
  stopNode(1);
  stopNode(2);
  EXPECT_TRUE(primary()->write(0, pattern(kBlock, 5), true).isOk());
}

// A replica restarted after missing writes gets a full sync while a writer keeps writing;
// afterwards all three copies are identical and every acknowledged write reads back.
TEST_F(ReplicationServiceTest, RestartedReplicaIsFullySyncedWhileWritesContinue) {
  const uint64_t size = 4 << 20;
  createNodes(size, 64 * 1024);
  ASSERT_TRUE(waitAllUpToDate());
  auto dev = primary();
  stopNode(1);
  std::map<uint64_t, uint32_t> model;  // block -> pattern seed of the last acknowledged write
  for (uint64_t b = 0; b < size / kBlock; b += 16) {
    ASSERT_TRUE(dev->write(b * kBlock, pattern(kBlock, static_cast<uint32_t>(b)), false).isOk());
    model[b] = static_cast<uint32_t>(b);
  }
  nodes_[1].device->setMode(GatedBlockDevice::Mode::kPause);  // hold the sync at its first chunk
  startNode(1);

  std::atomic<bool> stop_writer{false};
  std::atomic<uint64_t> writes{0};
  std::atomic<bool> writer_failed{false};
  std::thread writer([&] {
    std::mt19937 rng(42);
    while (!stop_writer.load()) {
      const uint64_t b = rng() % (size / kBlock);
      const uint32_t seed = rng();
      if (!dev->write(b * kBlock, pattern(kBlock, seed), false).isOk()) {
        writer_failed = true;
        return;
      }
      model[b] = seed;
      ++writes;
    }
  });
  ASSERT_TRUE(nodes_[1].device->waitUntilBlocked(kWait));
  EXPECT_EQ(peerStatus("node-1").state, PeerState::kSyncing);
  const uint64_t at_release = writes.load();
  nodes_[1].device->setMode(GatedBlockDevice::Mode::kPass);
  const bool synced = waitAllUpToDate();
  const uint64_t at_up_to_date = writes.load();
  stop_writer = true;
  writer.join();
  ASSERT_TRUE(synced);
  EXPECT_FALSE(writer_failed.load());
  EXPECT_GT(at_up_to_date, at_release) << "no write overlapped the sync";
  EXPECT_EQ(peerStatus("node-1").sync_total_bytes, size);
  EXPECT_TRUE(waitVolume(1, [](const VolumeStatus& v) { return v.disk == DiskState::kUpToDate; }));
  EXPECT_EQ(volumeStatus(1)->generation, volumeStatus(0)->generation);
  expectReplicasIdentical();
  for (auto& [b, seed] : model) {
    std::vector<std::byte> got(kBlock);
    ASSERT_TRUE(dev->read(b * kBlock, got).isOk());
    ASSERT_EQ(got, pattern(kBlock, seed)) << "block " << b;
  }
}

// A replica killed in the middle of a sync comes back Inconsistent and is synced again.
TEST_F(ReplicationServiceTest, ReplicaKilledMidSyncComesBackInconsistentAndResyncs) {
  const uint64_t size = 8 << 20;
  createNodes(size, 64 * 1024);
  ASSERT_TRUE(waitAllUpToDate());
  auto dev = primary();
  stopNode(1);
  for (uint64_t b = 0; b < size / kBlock; b += 8) {
    ASSERT_TRUE(dev->write(b * kBlock, pattern(kBlock, static_cast<uint32_t>(b + 1)), false).isOk());
  }
  nodes_[1].device->setMode(GatedBlockDevice::Mode::kPause);
  startNode(1);
  ASSERT_TRUE(nodes_[1].device->waitUntilBlocked(kWait));
  // "Kill": stop the node while its disk fails every further request, so nothing is completed.
  std::thread stopper([&] { nodes_[1].service->stop(); });
  nodes_[1].device->setMode(GatedBlockDevice::Mode::kFail);
  stopper.join();
  nodes_[1].service.reset();
  auto md = loadMetadata(nodes_[1].metadata);
  ASSERT_TRUE(md.isOk() && md->has_value());
  EXPECT_EQ((*md)->disk, DiskState::kInconsistent);

  nodes_[1].device->setMode(GatedBlockDevice::Mode::kPause);  // keep the new sync from finishing yet
  startNode(1);
  EXPECT_EQ(volumeStatus(1)->disk, DiskState::kInconsistent);
  nodes_[1].device->setMode(GatedBlockDevice::Mode::kPass);
  ASSERT_TRUE(waitAllUpToDate());
  EXPECT_TRUE(waitVolume(1, [](const VolumeStatus& v) { return v.disk == DiskState::kUpToDate; }));
  EXPECT_EQ(peerStatus("node-1").sync_total_bytes, size);
  expectReplicasIdentical();
}

// A replica that reconnects with the primary's generation (nothing written meanwhile) is up
// to date at once: no sync, no write to its disk.
TEST_F(ReplicationServiceTest, SameGenerationReconnectDoesNoSync) {
  createNodes(1 << 20);
  ASSERT_TRUE(waitAllUpToDate());
  ASSERT_TRUE(primary()->write(0, pattern(kBlock, 5), false).isOk());
  const std::string gen = volumeStatus(0)->generation;
  stopNode(1);
  ASSERT_TRUE(waitVolume(0, [](const VolumeStatus& v) {
    for (auto& p : v.peers) {
      if (p.node == "node-1") return p.state != PeerState::kUpToDate;
    }
    return false;
  }));
  nodes_[1].device->resetMutations();
  startNode(1);
  ASSERT_TRUE(waitAllUpToDate());
  EXPECT_EQ(peerStatus("node-1").sync_total_bytes, 0u);
  EXPECT_EQ(nodes_[1].device->mutations(), 0u);
  EXPECT_EQ(volumeStatus(1)->disk, DiskState::kUpToDate);
  EXPECT_EQ(volumeStatus(0)->generation, gen);
  expectReplicasIdentical();
}

// updateVolume removes and re-adds a peer; the re-added peer missed writes and is resynced.
TEST_F(ReplicationServiceTest, UpdateVolumeRemovesAndReAddsPeers) {
  createNodes(1 << 20);
  ASSERT_TRUE(waitAllUpToDate());
  VolumeConfig only_one = configFor(0);
  only_one.peers.pop_back();  // drop node-2
  ASSERT_TRUE(nodes_[0].service->updateVolume(only_one).isOk());
  EXPECT_EQ(volumeStatus(0)->peers.size(), 1u);
  ASSERT_TRUE(primary()->write(0, pattern(kBlock, 77), false).isOk());
  EXPECT_EQ(readMemory(*nodes_[1].memory, 0, kBlock), pattern(kBlock, 77));
  EXPECT_EQ(readMemory(*nodes_[2].memory, 0, kBlock), std::vector<std::byte>(kBlock));
  ASSERT_TRUE(nodes_[0].service->updateVolume(configFor(0)).isOk());
  ASSERT_TRUE(waitVolume(0, [](const VolumeStatus& v) {
    return v.peers.size() == 2 && v.peers[0].state == PeerState::kUpToDate &&
           v.peers[1].state == PeerState::kUpToDate;
  }));
  EXPECT_EQ(peerStatus("node-2").sync_total_bytes, 1u << 20);
  expectReplicasIdentical();
  VolumeConfig unknown = configFor(0);
  unknown.volume_uuid = newUuid();
  EXPECT_EQ(nodes_[0].service->updateVolume(unknown).code(), ErrorCode::kNotFound);
}

// A replica whose disk fails a write is dropped (the write still succeeds on the primary, which
// moves to a new generation); once the disk works again the replica is resynced.
TEST_F(ReplicationServiceTest, ReplicaDiskErrorDropsThePeerAndItResyncs) {
  createNodes(1 << 20);
  ASSERT_TRUE(waitAllUpToDate());
  const std::string gen0 = volumeStatus(0)->generation;
  nodes_[1].faulty->faults().failNthWrite(1);
  ASSERT_TRUE(primary()->write(0, pattern(kBlock, 3), false).isOk());
  EXPECT_NE(volumeStatus(0)->generation, gen0);
  EXPECT_EQ(readMemory(*nodes_[2].memory, 0, kBlock), pattern(kBlock, 3));
  EXPECT_EQ(nodes_[1].faulty->faults().injectedFaults(), 1u);
  ASSERT_TRUE(waitAllUpToDate());
  EXPECT_EQ(peerStatus("node-1").sync_total_bytes, 1u << 20);
  expectReplicasIdentical();
}

// A failing local disk on the primary fails the write, and nothing reaches the replicas.
TEST_F(ReplicationServiceTest, PrimaryDiskErrorFailsTheWriteAndSendsNothing) {
  createNodes(1 << 20);
  ASSERT_TRUE(waitAllUpToDate());
  nodes_[0].faulty->faults().failNthWrite(1);
  Status st = primary()->write(0, pattern(kBlock, 4), false);
  EXPECT_EQ(st.code(), ErrorCode::kIo);
  for (int r : {1, 2}) EXPECT_EQ(readMemory(*nodes_[r].memory, 0, kBlock), std::vector<std::byte>(kBlock));
  EXPECT_TRUE(primary()->write(0, pattern(kBlock, 5), false).isOk());
  expectReplicasIdentical();
}

// Crash twin of the same-generation reconnect: a replica that crashes loses acknowledged but
// unflushed writes; it comes back Outdated (its metadata says it was not stopped cleanly) and
// is fully synced even though the primary's generation did not change.
TEST_F(ReplicationServiceTest, CrashedReplicaComesBackOutdatedAndResyncs) {
  createNodes(1 << 20);
  ASSERT_TRUE(waitAllUpToDate());
  for (uint32_t k = 0; k < 8; ++k) {
    ASSERT_TRUE(primary()->write(k * kBlock, pattern(kBlock, k + 100), false).isOk());
  }
  const std::string gen = volumeStatus(0)->generation;
  // The disk dies (the shutdown flush fails), then the machine "reboots" without its cache.
  nodes_[1].faulty->faults().setBroken(true);
  stopNode(1);
  nodes_[1].faulty->faults().setBroken(false);
  ASSERT_TRUE(nodes_[1].faulty->crash().isOk());
  EXPECT_NE(readMemory(*nodes_[1].memory, 0, kBlock), pattern(kBlock, 100));
  auto md = loadMetadata(nodes_[1].metadata);
  ASSERT_TRUE(md.isOk() && md->has_value());
  EXPECT_FALSE((*md)->clean);
  EXPECT_EQ(formatGeneration((*md)->generation), gen);

  startNode(1);
  ASSERT_TRUE(waitAllUpToDate());
  EXPECT_EQ(volumeStatus(0)->generation, gen);
  EXPECT_EQ(peerStatus("node-1").sync_total_bytes, 1u << 20);
  expectReplicasIdentical();
}

// ---------------------------------------------------------------- issue 8 regressions

// Issue 8, hole 1 (a re-created backing device was trusted): a replica restarted on a new,
// empty device beside its old metadata must not claim its old generation; it is Inconsistent
// and fully synced, and the copies end identical.
TEST_F(ReplicationServiceTest, ReplacedDeviceIsInconsistentAndFullySynced) {
  createNodes(1 << 20);
  ASSERT_TRUE(waitAllUpToDate());
  ASSERT_TRUE(primary()->write(0, pattern(kBlock, 11), true).isOk());
  stopNode(1);
  replaceDevice(1);
  expectStartsInconsistentAndIsFullySynced(1);
}

// Issue 8, hole 1 (a missing metadata file read as "up to date at the initial generation"):
// a replica that crashed (losing unflushed writes) and lost its metadata comes back
// Inconsistent and is fully synced, even though nothing else happened meanwhile.
TEST_F(ReplicationServiceTest, MissingMetadataBesideAnOldDeviceIsInconsistent) {
  createNodes(1 << 20);
  ASSERT_TRUE(waitAllUpToDate());
  for (uint32_t k = 0; k < 4; ++k) ASSERT_TRUE(primary()->write(k * kBlock, pattern(kBlock, k + 20), false).isOk());
  nodes_[1].faulty->faults().setBroken(true);
  stopNode(1);
  nodes_[1].faulty->faults().setBroken(false);
  ASSERT_TRUE(nodes_[1].faulty->crash().isOk());
  ASSERT_TRUE(removeMetadata(nodes_[1].metadata).isOk());
  expectStartsInconsistentAndIsFullySynced(1);
}

// Issue 8, hole 2 (a new generation was only queued when the write that caused it completed):
// node-1 fails a write, so the primary drops it and moves to a new generation. The write must
// not complete before node-2 has that generation on disk; node-2 holds its NEW_GENERATION
// (whose flush is paused), so a write that completes early sees node-2's old generation.
TEST_F(ReplicationServiceTest, NewGenerationIsDurableOnSurvivorsBeforeTheWriteCompletes) {
  createNodes(1 << 20);
  ASSERT_TRUE(waitAllUpToDate());
  ASSERT_TRUE(primary()->write(0, pattern(kBlock, 1), false).isOk());
  nodes_[1].faulty->faults().failNthWrite(1);
  nodes_[2].device->setMode(GatedBlockDevice::Mode::kPauseFlushes);
  std::string survivor_generation_at_completion;
  Status written;
  std::thread writer([&] {
    written = primary()->write(kBlock, pattern(kBlock, 2), false);
    auto md = loadMetadata(nodes_[2].metadata);
    if (md.isOk() && md->has_value()) survivor_generation_at_completion = formatGeneration((*md)->generation);
  });
  ASSERT_TRUE(nodes_[2].device->waitUntilBlocked(kWait)) << "node-2 never got the new generation";
  nodes_[2].device->setMode(GatedBlockDevice::Mode::kPass);
  writer.join();
  ASSERT_TRUE(written.isOk()) << written.toString();
  EXPECT_EQ(survivor_generation_at_completion, volumeStatus(0)->generation)
      << "the write completed before the survivor had the new generation on disk";
}

// Issue 8, hole 4 (quorum passed trivially once the peer list was emptied): a quorum write
// whose replicas are held is not acknowledged when the volume is closed meanwhile.
TEST_F(ReplicationServiceTest, ClosingDuringAQuorumWriteDoesNotPassQuorum) {
  quorum_ = true;
  createNodes(1 << 20);
  ASSERT_TRUE(waitAllUpToDate());
  auto dev = primary();
  ASSERT_TRUE(dev->write(0, pattern(kBlock, 1), false).isOk());
  for (int r : {1, 2}) nodes_[r].device->setMode(GatedBlockDevice::Mode::kPause);
  Status written;
  std::thread writer([&] { written = dev->write(kBlock, pattern(kBlock, 2), false); });
  for (int r : {1, 2}) ASSERT_TRUE(nodes_[r].device->waitUntilBlocked(kWait));
  ASSERT_TRUE(nodes_[0].service->removeVolume(uuid_).isOk());
  writer.join();
  EXPECT_EQ(written.code(), ErrorCode::kUnavailable) << written.toString();
  EXPECT_EQ(written.reason(), "no_quorum");
}

// Issue 8, hole 4 (a replica's failed flush was only logged): the replica whose flush fails
// stops claiming UpToDate (in memory and on disk) before it answers, and is resynced later.
TEST_F(ReplicationServiceTest, FailedFlushMakesTheReplicaOutdated) {
  createNodes(1 << 20);
  ASSERT_TRUE(waitAllUpToDate());
  ASSERT_TRUE(primary()->write(0, pattern(kBlock, 3), false).isOk());
  nodes_[1].faulty->faults().failNthFlush(1);
  ASSERT_TRUE(primary()->flush().isOk());
  EXPECT_EQ(volumeStatus(1)->disk, DiskState::kOutdated);
  auto md = loadMetadata(nodes_[1].metadata);
  ASSERT_TRUE(md.isOk() && md->has_value());
  EXPECT_EQ((*md)->disk, DiskState::kOutdated);
  ASSERT_TRUE(waitAllUpToDate());
  EXPECT_TRUE(waitVolume(1, [](const VolumeStatus& v) { return v.disk == DiskState::kUpToDate; }));
  expectReplicasIdentical();
}

// Issue 8, hole 4 (becoming primary did not check the local disk): an Outdated replica is not
// promoted by updateVolume, and a node whose copy is Inconsistent is not added as primary.
TEST_F(ReplicationServiceTest, OnlyAnUpToDateCopyBecomesPrimary) {
  createNodes(1 << 20);
  ASSERT_TRUE(waitAllUpToDate());
  nodes_[2].faulty->faults().failNthFlush(1);
  ASSERT_TRUE(primary()->flush().isOk());
  // The old primary goes away at once, so the copy cannot be resynced (and become up to date)
  // before the promotion is tried. (It was left running: under load the resync had started
  // before the state was read, Inconsistent instead of Outdated, about 1 run in 25.)
  stopNode(0);
  const DiskState stale = volumeStatus(2)->disk;
  ASSERT_TRUE(stale == DiskState::kOutdated || stale == DiskState::kInconsistent) << static_cast<int>(stale);
  primary_ = 2;
  epoch_ = 2;
  Status promoted = nodes_[2].service->updateVolume(configFor(2));
  EXPECT_EQ(promoted.code(), ErrorCode::kConflict) << promoted.toString();
  EXPECT_EQ(nodes_[2].service->primaryDevice(uuid_), nullptr);
  EXPECT_FALSE(volumeStatus(2)->primary);

  stopNode(1);
  replaceDevice(1);
  primary_ = 1;
  ServiceOptions o;
  o.node_name = nodes_[1].name;
  auto s = ReplicationService::start(o, RealClock::instance());
  ASSERT_TRUE(s.isOk());
  nodes_[1].service = std::move(*s);
  Status added = nodes_[1].service->addVolume(configFor(1), nodes_[1].device, nodes_[1].metadata);
  EXPECT_EQ(added.code(), ErrorCode::kConflict) << added.toString();
  EXPECT_EQ(nodes_[1].service->primaryDevice(uuid_), nullptr);
  auto md = loadMetadata(nodes_[1].metadata);
  ASSERT_TRUE(md.isOk() && md->has_value());
  EXPECT_EQ((*md)->disk, DiskState::kInconsistent) << "the verdict must be persisted";
}

// Issue 8, hole 4 (a TRIM ignored by one device counted as success): a replica whose device
// ignores trims still ends identical to the primary.
TEST_F(ReplicationServiceTest, TrimKeepsCopiesIdenticalWhenADeviceIgnoresIt) {
  createNodes(1 << 20);
  ASSERT_TRUE(waitAllUpToDate());
  ASSERT_TRUE(primary()->write(0, pattern(16 * kBlock, 4), false).isOk());
  nodes_[1].device->ignoreTrims(true);
  ASSERT_TRUE(primary()->trim(0, 16 * kBlock, false).isOk());
  EXPECT_EQ(readMemory(*nodes_[1].memory, 0, 16 * kBlock), std::vector<std::byte>(16 * kBlock));
  expectReplicasIdentical();
}

// Issue 8, hole 4 (reads were served without quorum): with quorum required, a primary that
// lost its majority refuses reads too (it may have been replaced; its copy may be stale).
TEST_F(ReplicationServiceTest, ReadsNeedQuorumWhenQuorumIsRequired) {
  quorum_ = true;
  createNodes(1 << 20);
  ASSERT_TRUE(waitAllUpToDate());
  std::vector<std::byte> buf(kBlock);
  ASSERT_TRUE(primary()->read(0, buf).isOk());
  stopNode(1);
  stopNode(2);
  ASSERT_TRUE(waitVolume(0, [](const VolumeStatus& v) {
    return std::none_of(v.peers.begin(), v.peers.end(), [](const PeerStatus& p) { return p.state == PeerState::kUpToDate; });
  }));
  Status read = primary()->read(0, buf);
  EXPECT_EQ(read.code(), ErrorCode::kUnavailable) << read.toString();
  EXPECT_EQ(read.reason(), "no_quorum");
}

// Issue 8, hole 6 (engine side): the old primary, cut off, keeps writing alone while another
// node is promoted and writes too. When it returns as a replica, the new primary must not sync
// over it: it refuses the session, its copy stays untouched, and the primary reports it as
// kSplitBrain. The operator's resolution (discard_generation = its generation) lets it be
// fully synced; the copies then end identical with the new primary's data.
TEST_F(ReplicationServiceTest, DivergedOldPrimaryIsKeptApartUntilResolved) {
  createNodes(1 << 20);
  ASSERT_TRUE(waitAllUpToDate());
  ASSERT_TRUE(primary()->write(0, pattern(kBlock, 1), true).isOk());
  stopNode(1);
  stopNode(2);
  ASSERT_TRUE(primary()->write(kBlock, pattern(kBlock, 2), true).isOk());  // only on node-0
  stopNode(0);
  const std::string diverged = formatGeneration((*loadMetadata(nodes_[0].metadata))->generation);

  primary_ = 1;  // the operator promotes node-1 (epoch 2); node-2 follows it
  epoch_ = 2;
  startNode(2);
  startNode(1);
  ASSERT_TRUE(waitPeerState(1, "node-2", PeerState::kUpToDate));
  ASSERT_TRUE(primary()->write(2 * kBlock, pattern(kBlock, 3), true).isOk());

  nodes_[0].device->resetMutations();
  startNode(0);  // returns as a replica
  ASSERT_TRUE(waitPeerState(1, "node-0", PeerState::kSplitBrain)) << "the primary must report the diverged copy";
  EXPECT_EQ(nodes_[0].device->mutations(), 0u) << "the diverged copy must be kept untouched";
  EXPECT_EQ(volumeStatus(0)->generation, diverged);
  EXPECT_EQ(readMemory(*nodes_[0].memory, kBlock, kBlock), pattern(kBlock, 2));

  nodes_[0].discard_generation = diverged;  // resolve: keep node-1, discard node-0's copy
  ASSERT_TRUE(nodes_[0].service->updateVolume(configFor(0)).isOk());
  ASSERT_TRUE(waitVolume(1, [](const VolumeStatus& v) {
    return v.peers.size() == 2 && std::all_of(v.peers.begin(), v.peers.end(), [](const PeerStatus& p) {
             return p.state == PeerState::kUpToDate;
           });
  }));
  EXPECT_EQ(readMemory(*nodes_[0].memory, kBlock, kBlock), std::vector<std::byte>(kBlock));
  EXPECT_EQ(readMemory(*nodes_[0].memory, 2 * kBlock, kBlock), pattern(kBlock, 3));
  auto a = nodes_[1].memory->snapshot();
  EXPECT_TRUE(a == nodes_[0].memory->snapshot());
  EXPECT_TRUE(a == nodes_[2].memory->snapshot());
}

// Issue 7 (sameConfig ignored quorum): adding a volume again with another quorum setting is
// not silently accepted as "the same volume"; updateVolume applies it to the running volume.
TEST_F(ReplicationServiceTest, QuorumChangeIsNotIgnored) {
  createNodes(1 << 20);
  ASSERT_TRUE(waitAllUpToDate());
  VolumeConfig c = configFor(0);
  EXPECT_TRUE(nodes_[0].service->addVolume(c, nodes_[0].device, nodes_[0].metadata).isOk()) << "idempotent";
  c.quorum = true;
  EXPECT_EQ(nodes_[0].service->addVolume(c, nodes_[0].device, nodes_[0].metadata).code(), ErrorCode::kAlreadyExists);
  ASSERT_TRUE(nodes_[0].service->updateVolume(c).isOk());
  stopNode(1);
  stopNode(2);
  EXPECT_EQ(primary()->write(0, pattern(kBlock, 1), false).code(), ErrorCode::kUnavailable);
}

// The service deletes a removed volume's metadata file, and refuses while the volume is in use.
TEST_F(ReplicationServiceTest, DeleteMetadataOnlyOfARemovedVolume) {
  createNodes(1 << 20);
  EXPECT_EQ(nodes_[1].service->deleteMetadata(nodes_[1].metadata).code(), ErrorCode::kConflict);
  ASSERT_TRUE(nodes_[1].service->removeVolume(uuid_).isOk());
  ASSERT_TRUE(nodes_[1].service->deleteMetadata(nodes_[1].metadata).isOk());
  EXPECT_FALSE(std::filesystem::exists(nodes_[1].metadata));
}

// ---------------------------------------------------------------- raw-protocol tests

// Online grow: every node grows its backing store and calls updateVolume with the new size
// while a writer keeps writing; writes past the old end reach every replica, the new space reads
// as zeroes, old data stays, and no replica is dropped or resynced.
TEST_F(ReplicationServiceTest, GrowWhileWritingGrowsEveryReplicaWithoutAResync) {
  createNodes(1 << 20);
  ASSERT_TRUE(waitAllUpToDate());
  auto dev = primary();
  const auto old_data = pattern(64 * kBlock, 3);
  ASSERT_TRUE(dev->write(0, old_data, false).isOk());
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> writes{0};
  std::thread writer([&] {
    for (uint32_t k = 0; !stop; ++k) {
      const uint64_t off = (64 + k % 128) * kBlock;  // inside the old size, past old_data
      if (!dev->write(off, pattern(kBlock, k), false).isOk()) return;
      ++writes;
    }
  });
  const uint64_t old_size = size_;
  size_ = 4u << 20;
  for (int i : {1, 2, 0}) {  // as nodes do: each grows its backing store, then the engine
    nodes_[i].memory->growBacking(size_);
    Status st = nodes_[i].service->updateVolume(configFor(i));
    ASSERT_TRUE(st.isOk()) << i << ": " << st.toString();
  }
  EXPECT_EQ(dev->sizeBytes(), size_);
  const auto tail = pattern(kBlock, 77);
  ASSERT_TRUE(dev->write(size_ - kBlock, tail, true).isOk());
  // The writer goes on after the grow (a condition with a deadline, not a sleep).
  const uint64_t before = writes.load();
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  while (writes.load() < before + 8 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  stop = true;
  writer.join();
  EXPECT_GE(writes.load(), before + 8) << "the writer stopped during the grow";
  for (int r : {1, 2}) {
    EXPECT_EQ(readMemory(*nodes_[r].memory, 0, old_data.size()), old_data) << r;
    EXPECT_EQ(readMemory(*nodes_[r].memory, size_ - kBlock, kBlock), tail) << r;
    EXPECT_EQ(readMemory(*nodes_[r].memory, old_size, kBlock), std::vector<std::byte>(kBlock)) << r;
  }
  expectReplicasIdentical();
  EXPECT_EQ(nodes_[0].memory->snapshot().size(), size_);
  for (const char* peer : {"node-1", "node-2"}) {
    EXPECT_EQ(peerStatus(peer).state, PeerState::kUpToDate) << peer;
    EXPECT_EQ(peerStatus(peer).sync_total_bytes, 0u) << peer << " was resynced";
  }
}

// A node whose backing store has not grown refuses to grow the engine, and nothing changes.
TEST_F(ReplicationServiceTest, GrowNeedsTheBackingStoreGrownFirst) {
  createNodes(1 << 20);
  ASSERT_TRUE(waitAllUpToDate());
  size_ = 2u << 20;
  Status st = nodes_[0].service->updateVolume(configFor(0));
  EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument) << st.toString();
  EXPECT_EQ(primary()->sizeBytes(), 1u << 20);
  std::vector<std::byte> past(kBlock);
  EXPECT_FALSE(primary()->read(1u << 20, past).isOk());
}

// A replica whose node does not grow it in time is dropped (never fed writes past its end) and,
// once grown, fully synced to the new size.
TEST_F(ReplicationServiceTest, ReplicaGrownLateIsResyncedToTheNewSize) {
  createNodes(1 << 20);
  ASSERT_TRUE(waitAllUpToDate());
  size_ = 2u << 20;
  nodes_[0].memory->growBacking(size_);
  ASSERT_TRUE(nodes_[0].service->updateVolume(configFor(0)).isOk());  // waits out the replicas' RESIZE
  const auto tail = pattern(kBlock, 5);
  ASSERT_TRUE(primary()->write(size_ - kBlock, tail, true).isOk());
  EXPECT_NE(peerStatus("node-1").state, PeerState::kUpToDate);
  for (int r : {1, 2}) {
    nodes_[r].memory->growBacking(size_);
    ASSERT_TRUE(nodes_[r].service->updateVolume(configFor(r)).isOk());
  }
  ASSERT_TRUE(waitAllUpToDate());
  EXPECT_EQ(peerStatus("node-1").sync_total_bytes, size_);
  for (int r : {1, 2}) EXPECT_EQ(readMemory(*nodes_[r].memory, size_ - kBlock, kBlock), tail) << r;
  expectReplicasIdentical();
}

// A snapshot taken while a writer writes is the same on every up-to-date replica (each takes it
// at the same point of the write order), holds every write acknowledged before it was asked for,
// is a cut of the write order (no later write without every earlier one), and the writer goes on
// afterwards.
void snapshotWhileWriting(const std::function<std::shared_ptr<devices::BlockDevice>()>& primary,
                          ReplicationService& service, const std::string& uuid,
                          const std::function<std::map<std::string, std::vector<std::byte>>(int)>& snapshotsOf,
                          uint64_t size, std::function<void()>* after_precopy = nullptr) {
  auto dev = primary();
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> acked{0};  // the writes acknowledged so far, in order
  std::thread writer([&] {
    for (uint32_t k = 0; !stop; ++k) {
      if (!dev->write((k % 256) * kBlock, pattern(kBlock, k), false).isOk()) return;
      acked = k + 1;
    }
  });
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  while (acked.load() < 300 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  const uint64_t acked_before = acked.load();
  if (after_precopy) {
    // Between the precopy and the cut, 100 more writes: each must reach every copy's snapshot
    // through dirtied(), since precopy had already copied their blocks.
    *after_precopy = [&] {
      const uint64_t from = acked.load();
      while (acked.load() < from + 100 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
    };
  }
  auto copies = service.snapshotVolume(uuid, "snap-1");
  while (acked.load() < acked_before + 300 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  stop = true;
  writer.join();
  ASSERT_TRUE(copies.isOk()) << copies.status().toString();
  EXPECT_EQ(*copies, (std::vector<std::string>{"node-0", "node-1", "node-2"}));
  EXPECT_GE(acked.load(), acked_before + 300) << "writes did not resume after the snapshot";
  const auto image = snapshotsOf(0)["snap-1"];
  ASSERT_EQ(image.size(), size);
  EXPECT_TRUE(snapshotsOf(1)["snap-1"] == image) << "node-1's snapshot differs from the primary's";
  EXPECT_TRUE(snapshotsOf(2)["snap-1"] == image) << "node-2's snapshot differs from the primary's";
  // Which write each block holds (writes go to block k % 256 in order k = 0, 1, 2, ...).
  uint64_t lowest = UINT64_MAX, highest = 0;
  for (uint64_t block = 0; block < 256; ++block) {
    bool found = false;
    for (uint64_t k = block; k <= acked.load() && !found; k += 256) {
      if (std::equal(image.begin() + block * kBlock, image.begin() + (block + 1) * kBlock,
                     pattern(kBlock, static_cast<uint32_t>(k)).begin())) {
        found = true;
        lowest = std::min(lowest, k);
        highest = std::max(highest, k);
      }
    }
    ASSERT_TRUE(found) << "block " << block << " holds no write the writer made";
  }
  // Every write acknowledged before the call is in it (at least as new)...
  EXPECT_GE(lowest + 256, acked_before) << "the snapshot lacks writes acknowledged before it was asked for";
  // ...and it is one point of the write order: the 256 blocks hold 256 consecutive writes.
  EXPECT_EQ(highest - lowest, 255u) << "not a cut of the write order: writes " << lowest << " to " << highest;
}

TEST_F(ReplicationServiceTest, SnapshotIsIdenticalOnEveryReplicaWhileWriting) {
  createNodes(1 << 20);
  ASSERT_TRUE(waitAllUpToDate());
  snapshotWhileWriting([&] { return primary(); }, *nodes_[0].service, uuid_,
                       [&](int i) { std::lock_guard lock(snapshots_mu_); return snapshots_[i]; }, size_);
}

// The same through the two-step stage (precopy with writes going on, then a cut that copies only
// the blocks reported written since): on the primary and, through SNAPSHOT_PREPARE, on every
// replica. A write the engine applied without reporting it to the stage would be missing.
TEST_F(ReplicationServiceTest, StagedSnapshotIsIdenticalOnEveryReplicaWhileWriting) {
  staged_snapshots_ = true;
  std::function<void()> hold_cut;
  after_precopy_hook_ = [&](int node) {
    if (node == primary_ && hold_cut) hold_cut();
  };
  createNodes(1 << 20);
  ASSERT_TRUE(waitAllUpToDate());
  snapshotWhileWriting([&] { return primary(); }, *nodes_[0].service, uuid_,
                       [&](int i) { return snapshotsOnceHeld(i, "snap-1"); }, size_, &hold_cut);
}

// The primary cuts only once every up-to-date replica's precopy has converged (it asks with
// SNAPSHOT_PREPARE of the same name), so no replica's cut has the whole volume left to copy.
TEST_F(ReplicationServiceTest, StagedSnapshotWaitsForTheReplicasPrecopy) {
  staged_snapshots_ = true;
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::vector<std::string> events;
  after_precopy_hook_ = [&](int node) {
    std::unique_lock lock(mu);
    if (node != primary_) {
      cv.wait_for(lock, kWait, [&] { return release; });  // a slow replica
      events.push_back("ready node-" + std::to_string(node));
    }
    cv.notify_all();
  };
  on_cut_hook_ = [&](int node) {
    std::lock_guard lock(mu);
    events.push_back("cut node-" + std::to_string(node));
  };
  createNodes(1 << 20);
  ASSERT_TRUE(waitAllUpToDate());
  ASSERT_TRUE(primary()->write(0, pattern(kBlock, 1), true).isOk());
  auto taken = std::async(std::launch::async, [&] { return nodes_[0].service->snapshotVolume(uuid_, "snap-w"); });
  // Both replicas are copying and the primary has not cut.
  EXPECT_EQ(taken.wait_for(500ms), std::future_status::timeout) << "the primary did not wait for its replicas";
  {
    std::lock_guard lock(mu);
    EXPECT_TRUE(events.empty()) << ::testing::PrintToString(events);
    release = true;
  }
  cv.notify_all();
  auto copies = taken.get();
  ASSERT_TRUE(copies.isOk()) << copies.status().toString();
  EXPECT_EQ(copies->size(), 3u);
  std::lock_guard lock(mu);
  ASSERT_GE(events.size(), 5u) << ::testing::PrintToString(events);
  const auto cut0 = std::find(events.begin(), events.end(), "cut node-0");
  ASSERT_NE(cut0, events.end());
  for (const char* ready : {"ready node-1", "ready node-2"}) {
    EXPECT_LT(std::find(events.begin(), events.end(), ready), cut0) << ready << ": " << ::testing::PrintToString(events);
  }
  for (int r : {1, 2}) EXPECT_TRUE(snapshotsOnceHeld(r, "snap-w")["snap-w"] == snapshotsOnceHeld(0, "snap-w")["snap-w"]) << r;
}

// A staged snapshot that fails on the primary before its cut leaves no stage behind on any node:
// the primary tells the peers it had told to prepare (SNAPSHOT_PREPARE with ABORT), and writes go on.
TEST_F(ReplicationServiceTest, FailedStagedSnapshotDropsTheReplicasStages) {
  staged_snapshots_ = true;
  fail_primary_precopy_ = true;
  createNodes(1 << 20);
  ASSERT_TRUE(waitAllUpToDate());
  ASSERT_TRUE(primary()->write(0, pattern(kBlock, 1), true).isOk());
  auto taken = nodes_[0].service->snapshotVolume(uuid_, "snap-x");
  EXPECT_EQ(taken.status().code(), ErrorCode::kIo) << taken.status().toString();
  // The PREPARE and the ABORT are both ordered before this write on every peer's stream.
  ASSERT_TRUE(primary()->write(kBlock, pattern(kBlock, 2), true).isOk());
  for (int i : {0, 1, 2}) EXPECT_EQ(live_stages_[i]->load(), 0) << "node-" << i << " still holds a stage";
  std::lock_guard lock(snapshots_mu_);
  for (int i : {0, 1, 2}) EXPECT_FALSE(snapshots_[i].count("snap-x")) << i;
}

// A primary whose data was replaced outside the engine (a revert) comes back at a new
// generation, so every peer is fully synced to the replaced data instead of trusting its own.
TEST_F(ReplicationServiceTest, ReplacedPrimaryDataIsSyncedToEveryPeer) {
  createNodes(1 << 20);
  ASSERT_TRUE(waitAllUpToDate());
  ASSERT_TRUE(primary()->write(0, pattern(16 * kBlock, 1), true).isOk());
  const std::string before = volumeStatus(0)->generation;
  ASSERT_TRUE(nodes_[0].service->removeVolume(uuid_).isOk());
  ASSERT_TRUE(nodes_[0].memory->write(0, pattern(16 * kBlock, 2), true).isOk());  // the revert
  VolumeConfig config = configFor(0);
  config.data_replaced = true;
  ASSERT_TRUE(nodes_[0].service->addVolume(config, nodes_[0].device, nodes_[0].metadata).isOk());
  EXPECT_NE(volumeStatus(0)->generation, before);
  ASSERT_TRUE(waitVolume(0, [&](const VolumeStatus& v) {
    return v.peers.size() == 2 && std::all_of(v.peers.begin(), v.peers.end(), [&](const PeerStatus& p) {
             return p.state == PeerState::kUpToDate && p.sync_total_bytes == size_;
           });
  })) << "the peers were not fully synced";
  for (int r : {1, 2}) EXPECT_EQ(readMemory(*nodes_[r].memory, 0, 16 * kBlock), pattern(16 * kBlock, 2)) << r;
  expectReplicasIdentical();
}

// An adopted device (new to the engine, no metadata, but holding data: new_device with
// data_replaced) starts UpToDate at a new generation, not the initial one that means "never
// written", so peers at the initial generation are fully synced to its data.
TEST_F(ReplicationServiceTest, AdoptedDeviceWithDataIsSyncedToEveryPeer) {
  createNodes(1 << 20);
  ASSERT_TRUE(waitAllUpToDate());
  const std::string initial = volumeStatus(0)->generation;
  ASSERT_TRUE(nodes_[0].service->removeVolume(uuid_).isOk());
  std::filesystem::remove(nodes_[0].metadata);
  ASSERT_TRUE(nodes_[0].memory->write(0, pattern(16 * kBlock, 7), true).isOk());  // the adopted data
  VolumeConfig config = configFor(0);
  config.new_device = true;
  config.data_replaced = true;
  ASSERT_TRUE(nodes_[0].service->addVolume(config, nodes_[0].device, nodes_[0].metadata).isOk());
  EXPECT_EQ(volumeStatus(0)->disk, DiskState::kUpToDate);
  EXPECT_NE(volumeStatus(0)->generation, initial);
  ASSERT_TRUE(waitVolume(0, [&](const VolumeStatus& v) {
    return v.peers.size() == 2 && std::all_of(v.peers.begin(), v.peers.end(), [&](const PeerStatus& p) {
             return p.state == PeerState::kUpToDate && p.sync_total_bytes == size_;
           });
  })) << "the peers were not fully synced";
  for (int r : {1, 2}) EXPECT_EQ(readMemory(*nodes_[r].memory, 0, 16 * kBlock), pattern(16 * kBlock, 7)) << r;
  expectReplicasIdentical();
}

// A replica that is not up to date when the snapshot is taken gets no copy; only the primary
// can take one.
TEST_F(ReplicationServiceTest, SnapshotSkipsReplicasThatAreNotUpToDate) {
  createNodes(1 << 20);
  ASSERT_TRUE(waitAllUpToDate());
  stopNode(2);
  ASSERT_TRUE(primary()->write(0, pattern(kBlock, 1), true).isOk());
  auto copies = nodes_[0].service->snapshotVolume(uuid_, "snap-2");
  ASSERT_TRUE(copies.isOk()) << copies.status().toString();
  EXPECT_EQ(*copies, (std::vector<std::string>{"node-0", "node-1"}));
  EXPECT_EQ(nodes_[1].service->snapshotVolume(uuid_, "snap-3").status().code(), ErrorCode::kUnavailable);
  std::lock_guard lock(snapshots_mu_);
  EXPECT_FALSE(snapshots_[2].count("snap-2"));
  EXPECT_TRUE(snapshots_[1]["snap-2"] == snapshots_[0]["snap-2"]);
}

// Counts the bytes read through it (everything else passes through, holes included).
class ReadCountingDevice final : public devices::BlockDevice {
 public:
  explicit ReadCountingDevice(std::shared_ptr<devices::BlockDevice> inner) : inner_(std::move(inner)) {}
  uint64_t sizeBytes() const override { return inner_->sizeBytes(); }
  Status read(uint64_t offset, std::span<std::byte> out) override {
    read_bytes_ += out.size();
    return inner_->read(offset, out);
  }
  Status write(uint64_t offset, std::span<const std::byte> data, bool fua) override {
    return inner_->write(offset, data, fua);
  }
  Status flush() override { return inner_->flush(); }
  Status trim(uint64_t offset, uint64_t length, bool fua) override { return inner_->trim(offset, length, fua); }
  Status writeZeroes(uint64_t offset, uint64_t length, bool fua) override {
    return inner_->writeZeroes(offset, length, fua);
  }
  Result<std::vector<devices::Extent>> extents(uint64_t offset, uint64_t length) override {
    return inner_->extents(offset, length);
  }
  uint64_t readBytes() const { return read_bytes_.load(); }

 private:
  std::shared_ptr<devices::BlockDevice> inner_;
  std::atomic<uint64_t> read_bytes_{0};
};

// A full sync onto a fresh replica of a thin (sparse file) volume leaves the replica as sparse as
// the primary: zero chunks over the replica's holes are not written. Before, every zero chunk was
// zeroed with FALLOC_FL_ZERO_RANGE, which allocates: a synced replica of a 64 MiB volume holding
// 1 MiB of data took 64 MiB of its pool. And the primary reads only its data: its holes go as
// zero frames, unread (before, it read all 64 MiB), while the replica's stale data under them is
// still zeroed.
TEST(ReplicationSparseSyncTest, FullSyncKeepsAFreshReplicaSparse) {
  char tmpl[] = "/tmp/tandem-repl-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  constexpr uint64_t kSize = 64ull << 20, kData = 1ull << 20, kAt = 8ull << 20;
  auto sparseFile = [&](const std::string& name) {
    const std::string path = dir + "/" + name;
    std::filesystem::resize_file((std::ofstream(path), path), kSize);
    auto d = devices::FileBlockDevice::open(path);
    EXPECT_TRUE(d.isOk()) << d.status().toString();
    return std::shared_ptr<devices::FileBlockDevice>(std::move(*d));
  };
  auto primary_dev = sparseFile("primary.img");
  auto replica_dev = sparseFile("replica.img");
  ASSERT_TRUE(primary_dev->write(kAt, pattern(kData, 7), true).isOk());
  // Stale data on the replica where the primary has a hole: the sync must still zero it.
  ASSERT_TRUE(replica_dev->write(kAt * 3, pattern(kData, 8), true).isOk());

  const std::string uuid = newUuid();
  auto start = [&](const std::string& node) {
    ServiceOptions o;
    o.node_name = node;
    o.reconnect_interval = 20ms;
    o.sync_chunk_bytes = 256 * 1024;
    auto s = ReplicationService::start(o, RealClock::instance());
    EXPECT_TRUE(s.isOk()) << s.status().toString();
    return std::move(*s);
  };
  auto replica = start("replica");
  VolumeConfig rc;
  rc.volume_uuid = uuid;
  rc.name = "vol";
  rc.size_bytes = kSize;
  rc.epoch = 1;
  rc.new_device = true;
  ASSERT_TRUE(replica->addVolume(rc, replica_dev, dir + "/replica.md").isOk());
  auto primary = start("primary");
  VolumeConfig pc = rc;
  pc.primary = true;
  pc.new_device = true;  // the primary's copy came with data (an adopted device): peers are fully synced
  pc.data_replaced = true;
  pc.peers.push_back(PeerAddress{"replica", "127.0.0.1", replica->port()});
  auto counting = std::make_shared<ReadCountingDevice>(primary_dev);
  ASSERT_TRUE(primary->addVolume(pc, counting, dir + "/primary.md").isOk());
  ASSERT_TRUE(primary->waitForStatus(
      [&](const std::vector<VolumeStatus>& all) {
        return all.size() == 1 && all[0].peers.size() == 1 && all[0].peers[0].state == PeerState::kUpToDate &&
               all[0].peers[0].sync_total_bytes == kSize;
      },
      kWait));
  primary->stop();
  replica->stop();

  std::vector<std::byte> a(kSize), b(kSize);
  ASSERT_TRUE(primary_dev->read(0, a).isOk());
  ASSERT_TRUE(replica_dev->read(0, b).isOk());
  EXPECT_TRUE(a == b) << "the replica differs from the primary after the sync";
  struct stat st {};
  ASSERT_EQ(::stat((dir + "/replica.img").c_str(), &st), 0);
  const uint64_t allocated = static_cast<uint64_t>(st.st_blocks) * 512;
  // The data, plus at most the stale megabyte where ZERO_RANGE keeps blocks (unwritten extents),
  // plus rounding: never the whole volume.
  EXPECT_LE(allocated, 3 * kData) << "a full sync allocated " << allocated << " bytes of the replica";
  EXPECT_LE(counting->readBytes(), 2 * kData) << "the primary read its holes to sync them";
  std::filesystem::remove_all(dir);
}

class ReplicaProtocolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tandem-repl-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    uuid_ = newUuid();
    memory_ = std::make_shared<devices::MemoryBlockDevice>(1 << 20);
    ServiceOptions o;
    o.node_name = "replica";
    auto s = ReplicationService::start(o, RealClock::instance());
    ASSERT_TRUE(s.isOk());
    service_ = std::move(*s);
    VolumeConfig c;
    c.volume_uuid = uuid_;
    c.size_bytes = 1 << 20;
    c.epoch = 5;
    c.new_device = true;
    ASSERT_TRUE(service_->addVolume(c, memory_, dir_ + "/v.md").isOk());
    config_ = c;
  }
  void TearDown() override {
    service_->stop();
    std::filesystem::remove_all(dir_);
  }

  std::shared_ptr<net::Socket> connect() {
    auto s = net::connectTcp("127.0.0.1", service_->port(), 5000ms);
    EXPECT_TRUE(s.isOk()) << s.status().toString();
    if (s.isOk()) {
      EXPECT_TRUE((*s)->setTimeouts(10000ms, 10000ms).isOk());
    }
    return s.isOk() ? *s : nullptr;
  }

  wire::HelloReply hello(net::Socket& s, const std::string& uuid, uint64_t epoch) {
    wire::FrameHeader h;
    h.type = wire::FrameType::kHello;
    h.volume = *wire::volumeIdFromUuid(uuid);
    EXPECT_TRUE(net::writeFrame(s, h, wire::encodeHello(wire::Hello{epoch, 1, 1 << 20, "test", {}})).isOk());
    auto f = net::readFrame(s);
    EXPECT_TRUE(f.isOk()) << f.status().toString();
    if (!f.isOk()) return {};
    EXPECT_EQ(f->header.type, wire::FrameType::kHelloReply);
    auto r = wire::decodeHelloReply(f->payload);
    EXPECT_TRUE(r.isOk());
    return r.isOk() ? *r : wire::HelloReply{};
  }

  std::vector<std::byte> writeFrame(uint64_t seq, uint64_t offset, const std::vector<std::byte>& data) {
    wire::FrameHeader h;
    h.type = wire::FrameType::kWrite;
    h.volume = *wire::volumeIdFromUuid(uuid_);
    h.sequence = seq;
    h.offset = offset;
    h.length = data.size();
    return wire::encodeFrame(h, data);
  }

  std::string dir_;
  std::string uuid_;
  std::shared_ptr<devices::MemoryBlockDevice> memory_;
  std::unique_ptr<ReplicationService> service_;
  VolumeConfig config_;
};

// A frame with a bad payload CRC is not applied, and the replica drops the connection.
TEST_F(ReplicaProtocolTest, CorruptedFrameDropsTheConnection) {
  auto s = connect();
  ASSERT_NE(s, nullptr);
  ASSERT_EQ(hello(*s, uuid_, 5).status, ErrorCode::kOk);
  ASSERT_TRUE(s->sendAll(writeFrame(1, 0, pattern(kBlock, 1))).isOk());
  auto ack = net::readFrame(*s);
  ASSERT_TRUE(ack.isOk()) << ack.status().toString();
  EXPECT_EQ(ack->header.type, wire::FrameType::kAck);
  EXPECT_EQ(ack->header.sequence, 1u);
  EXPECT_EQ(*wire::decodeAck(ack->payload), ErrorCode::kOk);
  EXPECT_EQ(readMemory(*memory_, 0, kBlock), pattern(kBlock, 1));

  auto bad = writeFrame(2, kBlock, pattern(kBlock, 2));
  bad[wire::kHeaderSize + 100] ^= std::byte{0x01};
  ASSERT_TRUE(s->sendAll(bad).isOk());
  auto next = net::readFrame(*s);
  EXPECT_FALSE(next.isOk()) << "connection still open after a corrupted frame";
  EXPECT_EQ(readMemory(*memory_, kBlock, kBlock), std::vector<std::byte>(kBlock));
}

// HELLO for a volume this node does not hold is refused with kNotFound and the connection closed.
TEST_F(ReplicaProtocolTest, UnknownVolumeIsRefused) {
  auto s = connect();
  ASSERT_NE(s, nullptr);
  auto reply = hello(*s, newUuid(), 5);
  EXPECT_EQ(reply.status, ErrorCode::kNotFound);
  EXPECT_FALSE(net::readFrame(*s).isOk());
}

// A writer with an epoch older than the highest seen is refused (fencing); a current one is not.
TEST_F(ReplicaProtocolTest, OlderEpochIsRefused) {
  auto old_writer = connect();
  ASSERT_NE(old_writer, nullptr);
  EXPECT_EQ(hello(*old_writer, uuid_, 4).status, ErrorCode::kPermissionDenied);
  auto current = connect();
  ASSERT_NE(current, nullptr);
  EXPECT_EQ(hello(*current, uuid_, 6).status, ErrorCode::kOk);
  auto older_than_seen = connect();
  ASSERT_NE(older_than_seen, nullptr);
  EXPECT_EQ(hello(*older_than_seen, uuid_, 5).status, ErrorCode::kPermissionDenied);
}

// Issue 8, hole 3 (the writer epoch was checked only at HELLO): once the replica learns of a
// newer epoch (its config), every frame of the older writer's session is refused — ACK
// kPermissionDenied, nothing applied, metadata unchanged — and the session ends.
TEST_F(ReplicaProtocolTest, FramesFromAnOlderEpochAreRefusedOnEveryFrame) {
  const auto id = *wire::volumeIdFromUuid(uuid_);
  std::vector<wire::FrameHeader> frames;
  for (auto type : {wire::FrameType::kWrite, wire::FrameType::kTrim, wire::FrameType::kWriteZeroes,
                    wire::FrameType::kFlush, wire::FrameType::kSyncBegin, wire::FrameType::kSyncData,
                    wire::FrameType::kSyncZero, wire::FrameType::kSyncDone, wire::FrameType::kNewGeneration}) {
    frames.push_back(wire::FrameHeader::of(type));
  }
  ASSERT_TRUE(memory_->write(0, pattern(kBlock, 9), true).isOk());
  uint64_t epoch = config_.epoch;
  for (auto h : frames) {
    SCOPED_TRACE(std::string(wire::frameTypeName(h.type)));
    auto s = connect();
    ASSERT_NE(s, nullptr);
    ASSERT_EQ(hello(*s, uuid_, epoch).status, ErrorCode::kOk);
    config_.epoch = ++epoch;  // the controller promoted another node
    ASSERT_TRUE(service_->updateVolume(config_).isOk());
    const auto before = loadMetadata(dir_ + "/v.md");
    h.volume = id;
    h.sequence = 1;
    std::vector<std::byte> payload;
    if (h.type == wire::FrameType::kWrite || h.type == wire::FrameType::kSyncData) {
      payload = pattern(kBlock, 1);
      h.length = kBlock;
    } else if (h.type == wire::FrameType::kTrim || h.type == wire::FrameType::kWriteZeroes ||
               h.type == wire::FrameType::kSyncZero) {
      h.length = kBlock;
    } else if (h.type == wire::FrameType::kSyncDone || h.type == wire::FrameType::kNewGeneration) {
      payload = wire::encodeGeneration(0x1234);
    }
    ASSERT_TRUE(s->sendAll(wire::encodeFrame(h, payload)).isOk());
    auto ack = net::readFrame(*s);
    if (ack.isOk()) {
      EXPECT_EQ(ack->header.type, wire::FrameType::kAck);
      EXPECT_EQ(*wire::decodeAck(ack->payload), ErrorCode::kPermissionDenied);
      EXPECT_FALSE(net::readFrame(*s).isOk()) << "the fenced session must end";
    }
    EXPECT_EQ(readMemory(*memory_, 0, kBlock), pattern(kBlock, 9)) << "a fenced frame changed the data";
    const auto after = loadMetadata(dir_ + "/v.md");
    ASSERT_TRUE(before.isOk() && after.isOk() && before->has_value() && after->has_value());
    EXPECT_EQ((*after)->generation, (*before)->generation);
    EXPECT_EQ((*after)->disk, (*before)->disk);
  }
}

// A frame before HELLO, or a sequence number that goes backwards, ends the session.
TEST_F(ReplicaProtocolTest, OutOfOrderFramesDropTheConnection) {
  auto s = connect();
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(s->sendAll(writeFrame(1, 0, pattern(kBlock, 1))).isOk());
  EXPECT_FALSE(net::readFrame(*s).isOk());
  EXPECT_EQ(readMemory(*memory_, 0, kBlock), std::vector<std::byte>(kBlock));

  auto t = connect();
  ASSERT_NE(t, nullptr);
  ASSERT_EQ(hello(*t, uuid_, 5).status, ErrorCode::kOk);
  ASSERT_TRUE(t->sendAll(writeFrame(7, 0, pattern(kBlock, 1))).isOk());
  ASSERT_TRUE(net::readFrame(*t).isOk());
  ASSERT_TRUE(t->sendAll(writeFrame(7, kBlock, pattern(kBlock, 2))).isOk());
  EXPECT_FALSE(net::readFrame(*t).isOk());
  EXPECT_EQ(readMemory(*memory_, kBlock, kBlock), std::vector<std::byte>(kBlock));
}

}  // namespace
}  // namespace tandem::replication
