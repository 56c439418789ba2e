// The node side of a DRBD volume's whole life on one host, against a recording command runner and
// scripted events2 output: create (two replicas and a tie-breaker), the initial sync seen through
// events2, a diskless client for an attachment, resize, a peer added and removed, delete.
#include <filesystem>

#include <gtest/gtest.h>

#include "drbd_test_support.h"
#include "fake_command_runner.h"
#include "scripted_processes.h"
#include "tandem/drbd/events2_watcher.h"
#include "tandem/drbd/lifecycle.h"
#include "tandem/drbd/replica_report.h"

namespace tandem::drbd {
namespace {

using namespace std::chrono_literals;
using devices::testing::FakeCommandRunner;
using testing::makeSpec;
using testing::ScriptedProcesses;
using testing::TempDir;
using Argv = std::vector<std::string>;

TEST(DrbdNodeFlow, CreateSyncAttachResizeAddRemoveDelete) {
  TempDir dir;
  FakeCommandRunner runner;
  ConfigWriter writer(runner, {dir.path + "/res", dir.path + "/drbd.conf"});
  ASSERT_TRUE(writer.ensureConfig().isOk());
  DrbdLifecycle drbd(runner, writer, {"drbdadm", "drbdsetup", "drbdmeta", dir.path + "/drbd.conf", ""});
  const std::string adm_c = dir.path + "/drbd.conf";

  // Create on n1: two diskful replicas and the tie-breaker d1; n1 is the first writer.
  auto spec = makeSpec("vol", 1000, 2, 1);
  ASSERT_TRUE(drbd.create(spec, "n1").isOk());
  ASSERT_TRUE(drbd.promote("vol", true).isOk());

  // events2: the dump shows n1 primary and n2 syncing, then the sync finishes.
  ScriptedProcesses events({{
      "exists resource name:vol role:Primary suspended:no",
      "exists connection name:vol peer-node-id:1 conn-name:n2 connection:Connected role:Secondary",
      "exists connection name:vol peer-node-id:2 conn-name:d1 connection:Connected role:Secondary",
      "exists device name:vol volume:0 minor:1000 disk:UpToDate client:no quorum:yes",
      "exists peer-device name:vol peer-node-id:1 conn-name:n2 volume:0 replication:SyncSource "
      "peer-disk:Inconsistent done:10.00",
      "exists peer-device name:vol peer-node-id:2 conn-name:d1 volume:0 replication:Established peer-disk:Diskless",
      "exists -",
      "change peer-device name:vol peer-node-id:1 conn-name:n2 volume:0 done:60.00",
      "change peer-device name:vol peer-node-id:1 conn-name:n2 volume:0 replication:Established peer-disk:UpToDate",
  }});
  Events2Watcher watcher(events, {{"drbdsetup", "events2", "--now", "--statistics"}, 0ms, {}});
  watcher.start();
  auto peerState = [](const Events2Snapshot& s) {
    auto r = drbdReplicaReport("u", 1 << 20, s.state.resource("vol"));
    return r.peers.size() == 1 ? r.peers[0].state : nodeapi::PeerState::kDisconnected;
  };
  ASSERT_TRUE(watcher.waitUntil([&](const Events2Snapshot& s) { return peerState(s) == nodeapi::PeerState::kUpToDate; }, 10s));
  auto report = drbdReplicaReport("u", 1 << 20, watcher.snapshot().state.resource("vol"));
  EXPECT_EQ(report.disk, nodeapi::DiskState::kUpToDate);
  EXPECT_TRUE(report.primary);
  watcher.stop();

  // An attachment on c1 (no replica there): every host's file gains the diskless client.
  auto attached = spec;
  attached.hosts.push_back({"c1", "10.0.2.1", 7000, 3, ""});
  ASSERT_TRUE(drbd.addPeer(attached).isOk());
  // Resize after the backing devices grew; then a third replica n3, later removed.
  ASSERT_TRUE(drbd.resize("vol").isOk());
  auto grown = attached;
  grown.hosts.push_back({"n3", "10.0.0.3", 7000, 4, "/dev/tandem/vol"});
  ASSERT_TRUE(drbd.addPeer(grown).isOk());
  ASSERT_TRUE(drbd.removePeer(grown, "n3").isOk());
  ASSERT_TRUE(drbd.remove(attached, "n1").isOk());

  EXPECT_EQ(runner.callsExcept("env"),
            (std::vector<Argv>{
                {"drbdmeta", "--force", "1000", "v09", "/dev/tandem/vol", "internal", "create-md", "7"},
                {"drbdadm", "-c", adm_c, "adjust", "vol"},
                {"drbdadm", "-c", adm_c, "primary", "--force", "vol"},
                {"drbdadm", "-c", adm_c, "adjust", "vol"},
                {"drbdadm", "-c", adm_c, "resize", "vol/0"},
                {"drbdadm", "-c", adm_c, "adjust", "vol"},
                {"drbdadm", "-c", adm_c, "disconnect", "vol:n3"},
                {"drbdadm", "-c", adm_c, "del-peer", "vol:n3"},
                {"drbdadm", "-c", adm_c, "forget-peer", "vol:n3"},
                {"drbdadm", "-c", adm_c, "adjust", "vol"},
                {"drbdadm", "-c", adm_c, "down", "vol"},
                {"drbdmeta", "--force", "1000", "v09", "/dev/tandem/vol", "internal", "wipe-md"},
            }));
  // Each written file was checked by drbdadm acting as each of its hosts.
  size_t checks = 0;
  for (const auto& c : runner.calls()) checks += (c[0] == "env" && c.back() == "sh-nop");
  EXPECT_EQ(checks, 3u + 4u + 5u + 4u);
  EXPECT_FALSE(std::filesystem::exists(dir.path + "/res/vol.res"));
}

}  // namespace
}  // namespace tandem::drbd
