// In-process clusters: three ReplicationServices on loopback port 0, each a "node" with a
// MemoryBlockDevice (behind a GatedBlockDevice so a test can hold or fail a replica's disk).
#include "tandem/replication/replication_service.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <thread>

#include "gated_block_device.h"
#include "metadata/replica_metadata.h"
#include "net/frame_io.h"
#include "tandem/common/uuid.h"
#include "tandem/devices/fault_injection.h"
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
    c.primary = i == 0;
    c.epoch = 1;
    c.quorum = quorum_;
    if (i == 0) {
      for (int p : {1, 2}) c.peers.push_back(PeerAddress{nodes_[p].name, "127.0.0.1", nodes_[p].port});
    }
    return c;
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
    auto s = ReplicationService::start(o, RealClock::instance());
    ASSERT_TRUE(s.isOk()) << s.status().toString();
    n.service = std::move(*s);
    n.port = n.service->port();
    Status st = n.service->addVolume(configFor(i), n.device, n.metadata);
    ASSERT_TRUE(st.isOk()) << st.toString();
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

  std::shared_ptr<devices::BlockDevice> primary() { return nodes_[0].service->primaryDevice(uuid_); }

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

  std::string dir_;
  std::string uuid_;
  uint64_t size_ = 0;
  uint32_t chunk_ = 64 * 1024;
  bool quorum_ = false;
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
  for (int i = 0; i < 3; ++i) {
    fua[i] = nodes_[i].memory->fuaWriteCount();
    flushes[i] = nodes_[i].memory->flushCount();
  }
  ASSERT_TRUE(dev->write(0, pattern(kBlock, 9), true).isOk());
  for (int i = 0; i < 3; ++i) EXPECT_EQ(nodes_[i].memory->fuaWriteCount(), fua[i] + 1) << i;
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
  stopNode(1);                                        // the link sees EOF; the volume cannot act yet
  std::this_thread::sleep_for(300ms);
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

// ---------------------------------------------------------------- raw-protocol tests

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
    ASSERT_TRUE(service_->addVolume(c, memory_, dir_ + "/v.md").isOk());
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
    EXPECT_TRUE(net::writeFrame(s, h, wire::encodeHello(wire::Hello{epoch, 1, 1 << 20, "test"})).isOk());
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
