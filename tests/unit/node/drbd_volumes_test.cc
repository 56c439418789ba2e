// The node worker's drbd engine (drbd_volumes.h) through the Reconciler, on a real file pool and
// a real native engine, with the DRBD commands going to a RECORDING command runner (this machine
// has no DRBD kernel module) and the events2 state scripted from real line formats. The test
// asserts the exact drbdadm/drbdmeta argv sequences of the whole flow: create (primary), a native
// volume beside it, a diskless client for a block attachment, resize, add/remove peer, delete.
#include "tandem/node/drbd_volumes.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <mutex>

#include "fake_command_runner.h"
#include "recording_snapshots.h"
#include "local_node_test.h"
#include "tandem/drbd/config_writer.h"
#include "tandem/drbd/lifecycle.h"
#include "tandem/node/device_exports.h"

namespace tandem::node {
namespace {

using Argv = std::vector<std::string>;
constexpr uint64_t MiB = 1 << 20;
const std::string kVol = "11111111-1111-4111-8111-111111111111";
const std::string kClient = "22222222-2222-4222-8222-222222222222";
const std::string kNative = "33333333-3333-4333-8333-333333333333";

nodeapi::DesiredDrbd resource(const std::string& name, uint32_t minor, std::vector<nodeapi::DesiredDrbdHost> hosts) {
  return nodeapi::DesiredDrbd{name, minor, "secret-" + name, 7, std::move(hosts)};
}

class DrbdVolumesTest : public LocalNodeTest {
 protected:
  void SetUp() override {
    LocalNodeTest::SetUp();
    conf_ = dir_ + "/drbd/drbd.conf";
    std::filesystem::create_directories(dir_ + "/drbd");
    writer_ = std::make_unique<drbd::ConfigWriter>(runner_, drbd::ConfigWriterOptions{dir_ + "/drbd/res", conf_});
    ASSERT_TRUE(writer_->ensureConfig().isOk());
    lifecycle_ = std::make_unique<drbd::DrbdLifecycle>(
        runner_, *writer_, drbd::DrbdToolOptions{"drbdadm", "drbdsetup", "drbdmeta", conf_, ""});
    drbd_ = std::make_unique<DrbdVolumes>(DrbdVolumesOptions{"n1"}, pools_, *lifecycle_, [this] {
      std::lock_guard lock(state_mu_);
      return state_;
    });
    reconciler_ = std::make_unique<Reconciler>(ReconcilerOptions{metadataDir()}, pools_, *engine_, exports_,
                                               [](const std::string&) {});
    reconciler_->setDrbd(drbd_.get());
  }
  void TearDown() override {
    reconciler_.reset();
    drbd_.reset();
    LocalNodeTest::TearDown();
  }
  // drbd_ made again with `options` (reading the scripted events2 stream), in the reconciler.
  void useDrbdOptions(const DrbdVolumesOptions& options) {
    drbd_ = std::make_unique<DrbdVolumes>(options, pools_, *lifecycle_, [this] {
      std::lock_guard lock(state_mu_);
      return state_;
    });
    reconciler_->setDrbd(drbd_.get());
  }
  // Scripted `drbdsetup events2` output, folded as the watcher folds it.
  void events(const std::vector<std::string>& lines) {
    std::lock_guard lock(state_mu_);
    for (const auto& line : lines) {
      auto e = drbd::parseEvents2Line(line);
      ASSERT_TRUE(e.isOk()) << line;
      ASSERT_TRUE(state_.apply(*e).isOk()) << line;
    }
  }
  // `s` becomes a primary replica of "vol" (minor 1000) with one peer, n2, applied with its tool
  // calls consumed, and events2 shows it with nothing in flight (a host reports suspended only
  // once drained).
  void applyDrainedPrimaryWithOnePeer(DesiredState& s) {
    s.generation = 1;
    s.replicas.push_back(replica(kVol, "vol", 8 * MiB, true));
    s.replicas[0].drbd = resource("vol", 1000, {{"n1", "10.0.0.1", 7000, 0, true}, {"n2", "10.0.0.2", 7000, 1, true}});
    ASSERT_TRUE(reconciler_->apply(s).isOk());
    (void)toolCalls();
    events({"exists resource name:vol role:Primary suspended:no",
            "exists device name:vol volume:0 minor:1000 disk:UpToDate client:no quorum:yes upper-pending:0 "
            "lower-pending:0",
            "exists peer-device name:vol peer-node-id:1 conn-name:n2 volume:0 pending:0 unacked:0", "exists -"});
  }
  // The next generation of `s` drives `snapshot` to phase `p`; returns the tool calls it made.
  std::vector<Argv> applyPhase(DesiredState& s, const std::string& snapshot, nodeapi::SnapshotPhase p) {
    ++s.generation;
    s.replicas[0].drbd_snapshot = snapshot;
    s.replicas[0].drbd_snapshot_phase = p;
    EXPECT_TRUE(reconciler_->apply(s).isOk());
    return toolCalls();
  }
  // The DRBD tool calls since the last look (drbdadm's parser checks, `env ... sh-nop`, left out).
  std::vector<Argv> toolCalls() {
    auto calls = runner_.callsExcept("env");
    runner_.clearCalls();
    return calls;
  }
  Argv adm(std::vector<std::string> args) {
    Argv argv{"drbdadm", "-c", conf_};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }
  DesiredReplica replica(const std::string& uuid, const std::string& name, uint64_t size, bool primary) {
    DesiredReplica d;
    d.volume_name = name;
    d.volume_uuid = uuid;
    d.size_bytes = size;
    d.epoch = 1;
    d.pool = "default";
    d.primary = primary;
    return d;
  }
  std::string backing(const std::string& uuid) { return pools_["default"].provider->pathOf(uuid); }

  devices::testing::FakeCommandRunner runner_;
  std::string conf_;
  std::unique_ptr<drbd::ConfigWriter> writer_;
  std::unique_ptr<drbd::DrbdLifecycle> lifecycle_;
  std::unique_ptr<DrbdVolumes> drbd_;
  std::unique_ptr<Reconciler> reconciler_;
  std::mutex state_mu_;
  drbd::Events2State state_;
};

TEST_F(DrbdVolumesTest, WholeFlowRunsTheExpectedCommands) {
  std::vector<nodeapi::DesiredDrbdHost> two = {{"n1", "10.0.0.1", 7000, 0, true}, {"n2", "10.0.0.2", 7000, 1, true}};
  DesiredState s;
  s.generation = 1;
  s.node = "n1";
  s.replicas.push_back(replica(kVol, "vol", 8 * MiB, true));
  s.replicas[0].drbd = resource("vol", 1000, two);
  s.replicas.push_back(replica(kNative, "nat", 4 * MiB, true));  // a native volume beside it
  ASSERT_TRUE(reconciler_->apply(s).isOk());
  // Create: the backing volume in the pool, create-md, adjust; n2 is not connected (no events2
  // state), so the first writer forces primary and DRBD syncs n2 fully.
  EXPECT_EQ(toolCalls(), (std::vector<Argv>{
                             {"drbdmeta", "--force", "1000", "v09", backing(kVol), "internal", "create-md", "7"},
                             adm({"adjust", "vol"}),
                             adm({"primary", "--force", "vol"}),
                         }));
  EXPECT_TRUE(backingExists(kVol));
  EXPECT_TRUE(backingExists(kNative));
  ASSERT_EQ(engine_->status().size(), 1u) << "only the native volume is in the native engine";
  EXPECT_EQ(engine_->status()[0].volume_uuid, kNative);

  // The report comes from events2 through the same ReplicaReport as the native engine's.
  events({"exists resource name:vol role:Primary suspended:no",
          "exists connection name:vol peer-node-id:1 conn-name:n2 connection:Connected role:Secondary",
          "exists device name:vol volume:0 minor:1000 disk:UpToDate client:no quorum:yes",
          "exists peer-device name:vol peer-node-id:1 conn-name:n2 volume:0 replication:SyncSource "
          "peer-disk:Inconsistent done:50.00",
          "exists -"});
  auto report = reconciler_->report();
  const nodeapi::ReplicaReport* vol = nullptr;
  for (const auto& r : report.replicas) {
    if (r.volume_uuid == kVol) vol = &r;
  }
  ASSERT_NE(vol, nullptr);
  EXPECT_EQ(vol->disk, nodeapi::DiskState::kUpToDate);
  EXPECT_TRUE(vol->primary);
  ASSERT_EQ(vol->peers.size(), 1u);
  EXPECT_EQ(vol->peers[0].state, nodeapi::PeerState::kSyncing);
  EXPECT_EQ(vol->peers[0].sync_done_bytes, 4 * MiB);

  // A block attachment of another drbd volume held by n2 and n3: n1 becomes a diskless client.
  s.generation = 2;
  nodeapi::DesiredAttachment a;
  a.volume_name = "cv";
  a.volume_uuid = kClient;
  a.size_bytes = 4 * MiB;
  a.drbd = resource("cv", 1001,
                    {{"n2", "10.0.0.2", 7001, 0, true}, {"n3", "10.0.0.3", 7000, 1, true}, {"n1", "10.0.0.1", 7001, 2, false}});
  s.attachments.push_back(a);
  ASSERT_TRUE(reconciler_->apply(s).isOk());
  EXPECT_EQ(toolCalls(), (std::vector<Argv>{adm({"adjust", "cv"})})) << "diskless: no metadata";
  EXPECT_FALSE(backingExists(kClient));
  report = reconciler_->report();
  ASSERT_EQ(report.attachments.size(), 1u);
  EXPECT_EQ(report.attachments[0].device_path, "/dev/drbd/by-res/cv/0");
  EXPECT_EQ(report.attachments[0].health, nodeapi::DeviceHealth::kHealthy);

  // Grow: the backing volume first, then `drbdadm resize` on the primary.
  s.generation = 3;
  s.replicas[0].size_bytes = 16 * MiB;
  ASSERT_TRUE(reconciler_->apply(s).isOk());
  EXPECT_EQ(toolCalls(), (std::vector<Argv>{adm({"resize", "vol/0"})}));
  EXPECT_EQ(pools_["default"].provider->info(kVol)->size_bytes, 16 * MiB);

  // A third replica on n3: the file gains it and adjust adds the peer; then it goes again.
  s.generation = 4;
  s.replicas[0].drbd->hosts.push_back({"n3", "10.0.0.3", 7001, 2, true});
  ASSERT_TRUE(reconciler_->apply(s).isOk());
  EXPECT_EQ(toolCalls(), (std::vector<Argv>{adm({"adjust", "vol"})}));
  s.generation = 5;
  s.replicas[0].drbd->hosts.pop_back();
  ASSERT_TRUE(reconciler_->apply(s).isOk());
  EXPECT_EQ(toolCalls(), (std::vector<Argv>{adm({"disconnect", "vol:n3"}), adm({"del-peer", "vol:n3"}),
                                            adm({"forget-peer", "vol:n3"}), adm({"adjust", "vol"})}));
  ASSERT_TRUE(reconciler_->apply(s).isOk());
  EXPECT_TRUE(toolCalls().empty()) << "applying the same state again changes nothing";

  // Detach and delete: down, wipe-md on the diskful replica, the backing volume deleted; the
  // native volume is left alone.
  s.generation = 6;
  s.attachments.clear();
  s.replicas.erase(s.replicas.begin());
  ASSERT_TRUE(reconciler_->apply(s).isOk());
  EXPECT_EQ(toolCalls(), (std::vector<Argv>{
                             adm({"down", "vol"}),
                             {"drbdmeta", "--force", "1000", "v09", backing(kVol), "internal", "wipe-md"},
                             adm({"down", "cv"}),
                         }));
  EXPECT_FALSE(backingExists(kVol));
  EXPECT_TRUE(backingExists(kNative));
  report = reconciler_->report();
  EXPECT_TRUE(report.attachments.empty());
  ASSERT_EQ(report.replicas.size(), 1u);
  EXPECT_EQ(report.replicas[0].volume_uuid, kNative);
}

// An nbd attachment of a drbd volume: the host runs the resource (a diskless client where it
// holds no replica, its own device where it does) and its NBD server exports the DRBD device,
// opened only while a client uses it. The DRBD device is a STAND-IN here (a regular file under
// the test's by-res directory: no DRBD module on this machine). Detaching unexports (its NBD
// clients disconnected) before the resource is taken down.
TEST_F(DrbdVolumesTest, NbdAttachmentExportsTheDrbdDevice) {
  const std::string by_res = dir_ + "/by-res";
  for (const std::string res : {"cv", "vol"}) {
    std::filesystem::create_directories(by_res + "/" + res);
    std::filesystem::resize_file((std::ofstream(by_res + "/" + res + "/0"), by_res + "/" + res + "/0"), 4 * MiB);
  }
  drbd_ = std::make_unique<DrbdVolumes>(DrbdVolumesOptions{"n1", by_res}, pools_, *lifecycle_,
                                        std::function<drbd::Events2State()>{});
  RegistryDeviceExports exports(exports_, [this](const std::string& name) { (void)runner_.run({"unexport", name}); });
  drbd_->setExports(&exports);
  reconciler_->setDrbd(drbd_.get());

  DesiredState s;
  s.generation = 1;
  s.node = "n1";
  nodeapi::DesiredAttachment a;
  a.volume_name = "cv";
  a.volume_uuid = kClient;
  a.size_bytes = 4 * MiB;
  a.nbd_export = "cv";
  a.nbd = true;
  a.drbd = resource("cv", 1001,
                    {{"n2", "10.0.0.2", 7001, 0, true}, {"n3", "10.0.0.3", 7000, 1, true}, {"n1", "10.0.0.1", 7001, 2, false}});
  s.attachments.push_back(a);
  ASSERT_TRUE(reconciler_->apply(s).isOk());
  EXPECT_EQ(toolCalls(), (std::vector<Argv>{adm({"adjust", "cv"})})) << "a diskless client";
  EXPECT_TRUE(exports_.contains("cv"));
  auto report = reconciler_->report();
  ASSERT_EQ(report.attachments.size(), 1u);
  EXPECT_EQ(report.attachments[0].device_path, by_res + "/cv/0");
  EXPECT_EQ(report.attachments[0].health, nodeapi::DeviceHealth::kHealthy);
  {
    // What an NBD client's connection gets: the device at by-res/cv/0, written through.
    auto device = exports_.find("cv");
    ASSERT_NE(device, nullptr);
    EXPECT_EQ(device->sizeBytes(), 4 * MiB);
    std::vector<std::byte> data(4096, std::byte{0x42});
    ASSERT_TRUE(device->write(4096, data, true).isOk());
  }
  std::ifstream stand_in(by_res + "/cv/0", std::ios::binary);
  stand_in.seekg(4096);
  EXPECT_EQ(stand_in.get(), 0x42);

  // A diskful (secondary) replica here with an nbd attachment: its own device is exported.
  s.generation = 2;
  s.replicas.push_back(replica(kVol, "vol", 4 * MiB, false));
  s.replicas[0].drbd = resource("vol", 1000, {{"n1", "10.0.0.1", 7000, 0, true}, {"n2", "10.0.0.2", 7000, 1, true}});
  nodeapi::DesiredAttachment b = a;
  b.volume_name = b.nbd_export = "vol";
  b.volume_uuid = kVol;
  b.drbd = s.replicas[0].drbd;
  s.attachments.push_back(b);
  ASSERT_TRUE(reconciler_->apply(s).isOk());
  EXPECT_TRUE(exports_.contains("vol"));
  (void)toolCalls();
  ASSERT_TRUE(reconciler_->apply(s).isOk());
  EXPECT_TRUE(toolCalls().empty()) << "applying the same state again changes nothing";

  // Detach both: each export goes (clients disconnected) before its client is taken down; the
  // replica stays and is no longer exported.
  s.generation = 3;
  s.attachments.clear();
  ASSERT_TRUE(reconciler_->apply(s).isOk());
  EXPECT_EQ(toolCalls(), (std::vector<Argv>{{"unexport", "cv"}, adm({"down", "cv"}), {"unexport", "vol"}}));
  EXPECT_FALSE(exports_.contains("cv"));
  EXPECT_FALSE(exports_.contains("vol"));
  EXPECT_TRUE(reconciler_->report().attachments.empty());

  // The volume's primary exports its device under the volume's name without an attachment (the
  // volume's data is streamed through it); idle, nothing holds it open.
  s.generation = 4;
  s.replicas[0].primary = true;
  ASSERT_TRUE(reconciler_->apply(s).isOk());
  EXPECT_TRUE(exports_.contains("vol"));
  s.generation = 5;
  s.replicas.clear();
  ASSERT_TRUE(reconciler_->apply(s).isOk());
  EXPECT_EQ(toolCalls(), (std::vector<Argv>{{"unexport", "vol"},
                                            adm({"down", "vol"}),
                                            {"drbdmeta", "--force", "1000", "v09", backing(kVol), "internal", "wipe-md"}}));
  EXPECT_FALSE(exports_.contains("vol"));
}

// A drbd volume's cluster-wide snapshot on one diskful replica, phase by phase as the controller
// drives it (tandem/controller/drbd_snapshot.h): `suspend` runs suspend-io and reports
// suspended_for; `take` the provider snapshot, still suspended; `resume` resume-io. A failure at a
// step resumes at once and reports the snapshot failed (never retried); a secondary suspends only
// while its disk is UpToDate; a suspension for a snapshot no longer desired (the controller
// failed it: abort) is resumed.
TEST_F(DrbdVolumesTest, ClusterWideSnapshotGoesThroughThePhases) {
  auto recording = std::make_unique<RecordingSnapshots>(std::move(pools_["default"].provider), runner_);
  RecordingSnapshots* provider = recording.get();
  pools_["default"].provider = std::move(recording);
  auto setsu = [](const std::string& verb) { return Argv{"drbdsetup", verb, "1000"}; };
  DesiredState s;
  ASSERT_NO_FATAL_FAILURE(applyDrainedPrimaryWithOnePeer(s));
  auto phase = [&](const std::string& snapshot, nodeapi::SnapshotPhase p) { return applyPhase(s, snapshot, p); };
  auto report = [&] { return reconciler_->report().replicas.at(0); };

  s.replicas[0].snapshots = {"snap-a"};
  EXPECT_EQ(phase("snap-a", nodeapi::SnapshotPhase::kSuspend), (std::vector<Argv>{setsu("suspend-io")}));
  EXPECT_EQ(report().suspended_for, "snap-a");
  EXPECT_TRUE(report().snapshots.empty());
  EXPECT_TRUE(phase("snap-a", nodeapi::SnapshotPhase::kSuspend).empty()) << "suspended once";
  EXPECT_EQ(phase("snap-a", nodeapi::SnapshotPhase::kTake),
            (std::vector<Argv>{{"provider", "snapshot", kVol, "snap-a"}}));
  EXPECT_EQ(report().suspended_for, "snap-a") << "still suspended until every replica has taken it";
  EXPECT_EQ(report().snapshots, std::vector<std::string>{"snap-a"});
  EXPECT_EQ(phase("snap-a", nodeapi::SnapshotPhase::kResume), (std::vector<Argv>{setsu("resume-io")}));
  EXPECT_EQ(report().suspended_for, "");
  EXPECT_TRUE(report().failed_snapshots.empty());
  s.replicas[0].drbd_snapshot.clear();  // available: no longer driven
  ++s.generation;
  ASSERT_TRUE(reconciler_->apply(s).isOk());
  EXPECT_TRUE(toolCalls().empty()) << "a snapshot held is not taken again";

  // The provider snapshot fails: I/O is resumed at once; reported failed, not retried.
  provider->fail_snapshot = true;
  s.replicas[0].snapshots = {"snap-a", "snap-b"};
  EXPECT_EQ(phase("snap-b", nodeapi::SnapshotPhase::kSuspend), (std::vector<Argv>{setsu("suspend-io")}));
  EXPECT_EQ(phase("snap-b", nodeapi::SnapshotPhase::kTake),
            (std::vector<Argv>{{"provider", "snapshot", kVol, "snap-b"}, setsu("resume-io")}));
  EXPECT_EQ(report().failed_snapshots, std::vector<std::string>{"snap-b"});
  EXPECT_EQ(report().suspended_for, "");
  EXPECT_TRUE(phase("snap-b", nodeapi::SnapshotPhase::kTake).empty()) << "a failed snapshot is not retried";
  provider->fail_snapshot = false;

  // suspend-io refused: nothing taken, nothing to resume; reported failed.
  runner_.onFailure({"drbdsetup", "suspend-io"}, 10, "1000: State change failed");
  s.replicas[0].snapshots = {"snap-a", "snap-c"};
  EXPECT_EQ(phase("snap-c", nodeapi::SnapshotPhase::kSuspend), (std::vector<Argv>{setsu("suspend-io")}));
  EXPECT_EQ(report().failed_snapshots, std::vector<std::string>{"snap-c"});
  EXPECT_EQ(report().suspended_for, "");
  runner_.onFailure({"drbdsetup", "suspend-io"}, 0, "");

  // Abort: suspended, then the controller fails the snapshot (gone from the desired state).
  s.replicas[0].snapshots = {"snap-a", "snap-e"};
  EXPECT_EQ(phase("snap-e", nodeapi::SnapshotPhase::kSuspend), (std::vector<Argv>{setsu("suspend-io")}));
  s.replicas[0].snapshots = {"snap-a"};
  EXPECT_EQ(phase("", nodeapi::SnapshotPhase::kSuspend), (std::vector<Argv>{setsu("resume-io")}));
  EXPECT_EQ(report().suspended_for, "");
  EXPECT_EQ(report().snapshots, std::vector<std::string>{"snap-a"});

  // Take without being suspended for it (it resumed on its own): failed, nothing taken.
  s.replicas[0].snapshots = {"snap-a", "snap-f"};
  EXPECT_TRUE(phase("snap-f", nodeapi::SnapshotPhase::kTake).empty());
  EXPECT_EQ(report().failed_snapshots, std::vector<std::string>{"snap-f"});

  // A secondary suspends only once its disk is UpToDate.
  s.replicas[0].primary = false;
  s.replicas[0].snapshots = {"snap-a", "snap-d"};
  events({"exists resource name:vol role:Secondary suspended:no",
          "exists device name:vol volume:0 minor:1000 disk:Inconsistent client:no quorum:yes", "exists -"});
  EXPECT_TRUE(phase("snap-d", nodeapi::SnapshotPhase::kSuspend).empty()) << "an Inconsistent disk is no image";
  events({"change device name:vol volume:0 minor:1000 disk:Inconsistent->UpToDate"});
  EXPECT_EQ(phase("snap-d", nodeapi::SnapshotPhase::kSuspend), (std::vector<Argv>{setsu("suspend-io")}));

  // The volume goes while suspended: resumed first, then down; the snapshots with it.
  ++s.generation;
  s.replicas.clear();
  ASSERT_TRUE(reconciler_->apply(s).isOk());
  auto calls = toolCalls();
  ASSERT_GE(calls.size(), 2u);
  EXPECT_EQ(calls[0], setsu("resume-io"));
  EXPECT_EQ(calls[1], adm({"down", "vol"}));
  EXPECT_FALSE(backingExists(kVol));
}

// A host never stays suspended: past the local deadline without the next phase (the controller
// went silent) it resumes on its own and reports the snapshot failed; a node worker that stopped
// while suspended (its marker file is left) resumes at its next start and reports it failed.
TEST_F(DrbdVolumesTest, SuspensionEndsAtTheLocalDeadlineAndAfterARestart) {
  ManualClock clock;
  DrbdVolumesOptions options;
  options.self = "n1";
  options.suspend_dir = dir_ + "/drbd/suspended";
  options.suspend_deadline = std::chrono::seconds(10);
  options.clock = &clock;
  drbd_ = std::make_unique<DrbdVolumes>(options, pools_, *lifecycle_, std::function<drbd::Events2State()>{});
  reconciler_->setDrbd(drbd_.get());
  auto setsu = [](const std::string& verb) { return Argv{"drbdsetup", verb, "1000"}; };
  DesiredState s;
  s.generation = 1;
  s.replicas.push_back(replica(kVol, "vol", 8 * MiB, true));
  s.replicas[0].drbd = resource("vol", 1000, {{"n1", "10.0.0.1", 7000, 0, true}, {"n2", "10.0.0.2", 7000, 1, true}});
  s.replicas[0].snapshots = {"snap-a", "snap-b"};
  s.replicas[0].drbd_snapshot = "snap-a";
  ASSERT_TRUE(reconciler_->apply(s).isOk());
  auto calls = toolCalls();
  EXPECT_EQ(calls.back(), setsu("suspend-io"));
  EXPECT_TRUE(std::filesystem::exists(options.suspend_dir + "/" + kVol)) << "the marker is written";

  clock.advance(std::chrono::seconds(9));
  drbd_->enforceDeadlines();
  EXPECT_TRUE(toolCalls().empty());
  clock.advance(std::chrono::seconds(1));
  drbd_->enforceDeadlines();
  EXPECT_EQ(toolCalls(), (std::vector<Argv>{setsu("resume-io")}));
  EXPECT_FALSE(std::filesystem::exists(options.suspend_dir + "/" + kVol));
  auto r = reconciler_->report().replicas.at(0);
  EXPECT_EQ(r.suspended_for, "");
  EXPECT_EQ(r.failed_snapshots, std::vector<std::string>{"snap-a"});
  s.generation = 2;
  s.replicas[0].drbd_snapshot_phase = nodeapi::SnapshotPhase::kTake;  // the controller came back late
  ASSERT_TRUE(reconciler_->apply(s).isOk());
  EXPECT_TRUE(toolCalls().empty()) << "no copy taken after resuming on its own";

  // Suspended for snap-b, then the worker stops (the object goes without running anything).
  s.generation = 3;
  s.replicas[0].drbd_snapshot = "snap-b";
  s.replicas[0].drbd_snapshot_phase = nodeapi::SnapshotPhase::kSuspend;
  ASSERT_TRUE(reconciler_->apply(s).isOk());
  EXPECT_EQ(toolCalls(), (std::vector<Argv>{setsu("suspend-io")}));
  reconciler_->setDrbd(nullptr);
  drbd_ = std::make_unique<DrbdVolumes>(options, pools_, *lifecycle_, std::function<drbd::Events2State()>{});
  EXPECT_EQ(toolCalls(), (std::vector<Argv>{setsu("resume-io")})) << "resumed at start, from the marker";
  EXPECT_FALSE(std::filesystem::exists(options.suspend_dir + "/" + kVol));
  reconciler_->setDrbd(drbd_.get());
  s.generation = 4;
  ASSERT_TRUE(reconciler_->apply(s).isOk());
  r = reconciler_->report().replicas.at(0);
  EXPECT_EQ(r.failed_snapshots, std::vector<std::string>{"snap-b"}) << "reported failed after the restart";
  EXPECT_EQ(r.suspended_for, "");
  calls = toolCalls();
  EXPECT_EQ(std::count(calls.begin(), calls.end(), setsu("suspend-io")), 0) << "not suspended again for it";
}

// The primary reports suspended only once nothing is in flight (or its copy is held): a
// peer-device still `pending:1` after suspend-io keeps it unreported (and `take` waits, taking
// nothing) until a new events2 line shows pending:0 unacked:0; one that never drains resumes at
// the local deadline and reports the snapshot failed.
TEST_F(DrbdVolumesTest, SuspendedIsReportedOnlyOnceDrained) {
  pools_["default"].provider = std::make_unique<RecordingSnapshots>(std::move(pools_["default"].provider), runner_);
  ManualClock clock;
  DrbdVolumesOptions options;
  options.self = "n1";
  options.suspend_deadline = std::chrono::seconds(10);
  options.clock = &clock;
  useDrbdOptions(options);
  auto setsu = [](const std::string& verb) { return Argv{"drbdsetup", verb, "1000"}; };
  DesiredState s;
  ASSERT_NO_FATAL_FAILURE(applyDrainedPrimaryWithOnePeer(s));
  auto phase = [&](const std::string& snapshot, nodeapi::SnapshotPhase p) { return applyPhase(s, snapshot, p); };
  auto report = [&] { return reconciler_->report().replicas.at(0); };

  s.replicas[0].snapshots = {"snap-a"};
  EXPECT_EQ(phase("snap-a", nodeapi::SnapshotPhase::kSuspend), (std::vector<Argv>{setsu("suspend-io")}));
  events({"change peer-device name:vol peer-node-id:1 volume:0 pending:1 unacked:0"});  // a write still in flight
  EXPECT_EQ(report().suspended_for, "") << "not drained: not reported suspended";
  EXPECT_TRUE(phase("snap-a", nodeapi::SnapshotPhase::kSuspend).empty()) << "still suspended, not resumed";
  EXPECT_TRUE(phase("snap-a", nodeapi::SnapshotPhase::kTake).empty()) << "never copied while in flight";
  EXPECT_TRUE(report().snapshots.empty());
  EXPECT_TRUE(report().failed_snapshots.empty());
  events({"change peer-device name:vol peer-node-id:1 volume:0 pending:0 unacked:0"});
  EXPECT_EQ(report().suspended_for, "snap-a") << "drained";
  EXPECT_EQ(phase("snap-a", nodeapi::SnapshotPhase::kTake),
            (std::vector<Argv>{{"provider", "snapshot", kVol, "snap-a"}}));
  events({"change peer-device name:vol peer-node-id:1 volume:0 pending:1 unacked:0"});  // stale, after the copy
  EXPECT_EQ(report().suspended_for, "snap-a") << "its copy, taken drained, is held: still reported suspended";
  events({"change peer-device name:vol peer-node-id:1 volume:0 pending:0 unacked:0"});
  EXPECT_EQ(phase("snap-a", nodeapi::SnapshotPhase::kResume), (std::vector<Argv>{setsu("resume-io")}));
  EXPECT_EQ(report().snapshots, std::vector<std::string>{"snap-a"});

  // Never drains (the device's own counter this time): resumed at the deadline, reported failed.
  s.replicas[0].snapshots = {"snap-a", "snap-b"};
  events({"change device name:vol volume:0 minor:1000 lower-pending:1"});
  EXPECT_EQ(phase("snap-b", nodeapi::SnapshotPhase::kSuspend), (std::vector<Argv>{setsu("suspend-io")}));
  EXPECT_EQ(report().suspended_for, "");
  clock.advance(std::chrono::seconds(9));
  drbd_->enforceDeadlines();
  EXPECT_TRUE(toolCalls().empty()) << "kept suspended until the deadline";
  clock.advance(std::chrono::seconds(1));
  drbd_->enforceDeadlines();
  EXPECT_EQ(toolCalls(), (std::vector<Argv>{setsu("resume-io")}));
  EXPECT_EQ(report().failed_snapshots, std::vector<std::string>{"snap-b"});
  EXPECT_EQ(report().suspended_for, "");
  EXPECT_EQ(report().snapshots, std::vector<std::string>{"snap-a"});
}

// With a fresh-state reader (production: drbdsetup events2 --now --statistics) the drain check
// reads its counters, not the stream's: the stream shows a stale pending:0 while the fresh dump
// shows a write in flight, so the host is not reported suspended and `take` copies nothing until
// the fresh dump shows it drained. A reader that fails counts as not drained.
TEST_F(DrbdVolumesTest, FreshStatisticsDecideTheDrain) {
  pools_["default"].provider = std::make_unique<RecordingSnapshots>(std::move(pools_["default"].provider), runner_);
  std::mutex now_mu;
  Result<drbd::DrbdResourceState> now = Status(ErrorCode::kUnavailable, "drbdsetup: not answered yet");
  int reads = 0;
  DrbdVolumesOptions options;
  options.self = "n1";
  options.current_state = [&](const std::string& resource) -> Result<drbd::DrbdResourceState> {
    std::lock_guard lock(now_mu);
    EXPECT_EQ(resource, "vol");
    ++reads;
    return now;
  };
  useDrbdOptions(options);
  auto fresh = [&](uint64_t pending) {
    drbd::Events2State state;
    for (const std::string& line :
         {std::string("exists resource name:vol role:Primary suspended:user"),
          std::string("exists device name:vol volume:0 minor:1000 disk:UpToDate upper-pending:0 lower-pending:0"),
          "exists peer-device name:vol peer-node-id:1 conn-name:n2 volume:0 pending:" + std::to_string(pending) +
              " unacked:0",
          std::string("exists -")}) {
      EXPECT_TRUE(state.apply(*drbd::parseEvents2Line(line)).isOk()) << line;
    }
    std::lock_guard lock(now_mu);
    now = *state.resource("vol");
  };
  DesiredState s;
  ASSERT_NO_FATAL_FAILURE(applyDrainedPrimaryWithOnePeer(s));  // the stream: everything 0
  auto phase = [&](const std::string& snapshot, nodeapi::SnapshotPhase p) { return applyPhase(s, snapshot, p); };
  auto report = [&] { return reconciler_->report().replicas.at(0); };

  s.replicas[0].snapshots = {"snap-a"};
  EXPECT_EQ(phase("snap-a", nodeapi::SnapshotPhase::kSuspend), (std::vector<Argv>{{"drbdsetup", "suspend-io", "1000"}}));
  EXPECT_EQ(report().suspended_for, "") << "the fresh state cannot be read: not drained";
  fresh(1);
  EXPECT_EQ(report().suspended_for, "") << "the stream's 0 is stale: the fresh dump shows a write in flight";
  EXPECT_TRUE(phase("snap-a", nodeapi::SnapshotPhase::kTake).empty()) << "never copied while in flight";
  fresh(0);
  EXPECT_EQ(report().suspended_for, "snap-a");
  EXPECT_EQ(phase("snap-a", nodeapi::SnapshotPhase::kTake),
            (std::vector<Argv>{{"provider", "snapshot", kVol, "snap-a"}}));
  EXPECT_GT(reads, 0);
}

// A new thin volume whose every diskful host is already connected (events2) skips the initial
// sync with new-current-uuid --clear-bitmap instead of forcing primary; a thick one does not.
TEST_F(DrbdVolumesTest, InitialSyncSkippedOnlyWhenProvablySafe) {
  events({"exists resource name:vol role:Secondary suspended:no",
          "exists connection name:vol peer-node-id:1 conn-name:n2 connection:Connected role:Secondary",
          "exists -"});
  DesiredState s;
  s.generation = 1;
  s.replicas.push_back(replica(kVol, "vol", 8 * MiB, true));
  s.replicas[0].drbd = resource("vol", 1000, {{"n1", "10.0.0.1", 7000, 0, true}, {"n2", "10.0.0.2", 7000, 1, true}});
  ASSERT_TRUE(reconciler_->apply(s).isOk());
  auto calls = toolCalls();
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[2], adm({"new-current-uuid", "--clear-bitmap", "vol/0"}));

  s.generation = 2;
  s.replicas.push_back(replica(kClient, "thick", 8 * MiB, true));
  s.replicas[1].thin = false;
  s.replicas[1].drbd = resource("thick", 1001, {{"n1", "10.0.0.1", 7001, 0, true}, {"n2", "10.0.0.2", 7001, 1, true}});
  ASSERT_TRUE(reconciler_->apply(s).isOk());
  calls = toolCalls();
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[2], adm({"primary", "--force", "thick"})) << "thick backing may hold old data";
}

// A two-replica volume's diskless tie-breaker on this host: no backing volume, no metadata, only
// the resource file and adjust; reported up to date once events2 shows the diskless client; gone
// with down only.
TEST_F(DrbdVolumesTest, TieBreakerIsDiskless) {
  DesiredState s;
  s.generation = 1;
  s.replicas.push_back(replica(kVol, "vol", 8 * MiB, false));
  s.replicas[0].pool = "";
  s.replicas[0].drbd = resource("vol", 1000, {{"n2", "10.0.0.2", 7000, 0, true}, {"n3", "10.0.0.3", 7000, 1, true},
                                              {"n1", "10.0.0.1", 7000, 2, false}});
  ASSERT_TRUE(reconciler_->apply(s).isOk());
  EXPECT_EQ(toolCalls(), (std::vector<Argv>{adm({"adjust", "vol"})}));
  EXPECT_FALSE(backingExists(kVol));
  events({"exists resource name:vol role:Secondary suspended:no",
          "exists device name:vol volume:0 minor:1000 disk:Diskless client:yes quorum:yes", "exists -"});
  auto report = reconciler_->report();
  ASSERT_EQ(report.replicas.size(), 1u);
  EXPECT_EQ(report.replicas[0].disk, nodeapi::DiskState::kUpToDate) << report.replicas[0].error;
  s.generation = 2;
  s.replicas.clear();
  ASSERT_TRUE(reconciler_->apply(s).isOk());
  EXPECT_EQ(toolCalls(), (std::vector<Argv>{adm({"down", "vol"})}));
}

// A failing DRBD command is reported on the replica with the tool's stderr; a node worker without
// the drbd engine reports drbd replicas failed, saying why, and never puts them in the native engine.
TEST_F(DrbdVolumesTest, FailuresAreReportedWithTheReason) {
  runner_.onFailure({"drbdadm", "-c", conf_, "adjust"}, 10, "vol: Failure: (162) Invalid configuration request");
  DesiredState s;
  s.generation = 1;
  s.replicas.push_back(replica(kVol, "vol", 8 * MiB, false));
  s.replicas[0].drbd = resource("vol", 1000, {{"n1", "10.0.0.1", 7000, 0, true}, {"n2", "10.0.0.2", 7000, 1, true}});
  EXPECT_FALSE(reconciler_->apply(s).isOk());
  auto report = reconciler_->report();
  ASSERT_EQ(report.replicas.size(), 1u);
  EXPECT_EQ(report.replicas[0].disk, nodeapi::DiskState::kFailed);
  EXPECT_NE(report.replicas[0].error.find("Invalid configuration request"), std::string::npos)
      << report.replicas[0].error;

  // A replica that could not be made while a block attachment of it is desired: reported failed,
  // and once both go nothing is left to take down.
  runner_.clearCalls();
  DesiredState broken;
  broken.generation = 2;
  broken.replicas.push_back(replica(kClient, "cv", 8 * MiB, false));
  broken.replicas[0].pool = "nope";
  broken.replicas[0].drbd = resource("cv", 1001, {{"n1", "10.0.0.1", 7001, 0, true}});
  nodeapi::DesiredAttachment a;
  a.volume_name = "cv";
  a.volume_uuid = kClient;
  a.size_bytes = 8 * MiB;
  a.drbd = broken.replicas[0].drbd;
  broken.attachments.push_back(a);
  EXPECT_FALSE(reconciler_->apply(broken).isOk());
  EXPECT_TRUE(reconciler_->report().attachments.empty()) << "no device while the replica is not held";
  runner_.onFailure({"drbdadm", "-c", conf_, "adjust"}, 0, "");
  DesiredState empty;
  empty.generation = 3;
  EXPECT_TRUE(reconciler_->apply(empty).isOk());
  for (const auto& c : toolCalls()) EXPECT_NE(c.back(), "cv") << "nothing of cv was ever up";

  Reconciler without({metadataDir()}, pools_, *engine_, exports_, [](const std::string&) {});
  s.replicas[0].volume_uuid = kNative;
  ASSERT_TRUE(without.apply(s).isOk());
  report = without.report();
  ASSERT_EQ(report.replicas.size(), 1u);
  EXPECT_NE(report.replicas[0].error.find("drbd engine, which this node worker does not run"), std::string::npos);
  EXPECT_TRUE(engine_->status().empty());
}

}  // namespace
}  // namespace tandem::node
