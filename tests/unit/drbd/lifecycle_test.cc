// DRBD lifecycle command sequences (lifecycle.h): exact argv lists against a recording fake
// runner, then the real drbdmeta on a plain file and real `drbdadm -d` dry runs.
#include "tandem/drbd/lifecycle.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "drbd_test_support.h"
#include "fake_command_runner.h"

namespace tandem::drbd {
namespace {

using devices::testing::FakeCommandRunner;
using testing::makeSpec;
using testing::RecordingRealRunner;
using testing::TempDir;
using Argv = std::vector<std::string>;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

class DrbdLifecycleTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(writer_.ensureConfig().isOk()); }
  // The calls other than the parser checks the ConfigWriter makes.
  std::vector<Argv> actions() { return fake_.callsExcept("env"); }
  TempDir dir_;
  FakeCommandRunner fake_;
  ConfigWriter writer_{fake_, {dir_.path + "/res", dir_.path + "/drbd.conf"}};
  DrbdLifecycle drbd_{fake_, writer_, {"drbdadm", "drbdsetup", "drbdmeta", "/etc/tandem.conf", ""}};
};

// Create on a diskful host: .res written (checked per host), create-md with the spare peer slots,
// then adjust. A diskless host skips create-md.
TEST_F(DrbdLifecycleTest, CreateWritesConfigCreatesMetadataAndAdjusts) {
  auto spec = makeSpec("vol", 1001, 2, 1);
  spec.max_peers = 7;
  ASSERT_TRUE(drbd_.create(spec, "n2").isOk());
  EXPECT_EQ(actions(), (std::vector<Argv>{
                           {"drbdmeta", "--force", "1001", "v09", "/dev/tandem/vol", "internal", "create-md", "7"},
                           {"drbdadm", "-c", "/etc/tandem.conf", "adjust", "vol"}}));
  EXPECT_EQ(fake_.calls().size(), 5u);  // three sh-nop checks first
  EXPECT_TRUE(std::filesystem::exists(dir_.path + "/res/vol.res"));
  fake_.clearCalls();
  ASSERT_TRUE(drbd_.create(spec, "d1").isOk());  // the diskless client / tie-breaker
  EXPECT_EQ(actions(), (std::vector<Argv>{{"drbdadm", "-c", "/etc/tandem.conf", "adjust", "vol"}}));
  EXPECT_EQ(drbd_.create(spec, "zz").code(), ErrorCode::kInvalidArgument);
}

// The initial sync is skipped only when every condition of the rule holds.
TEST_F(DrbdLifecycleTest, InitialSyncIsSkippedOnlyWhenProvablySafe) {
  InitialSyncFacts ok{true, true, false, 3, 3};
  ASSERT_TRUE(drbd_.skipInitialSync("vol", ok).isOk());
  EXPECT_EQ(actions(), (std::vector<Argv>{
                           {"drbdadm", "-c", "/etc/tandem.conf", "new-current-uuid", "--clear-bitmap", "vol/0"}}));
  fake_.clearCalls();
  for (InitialSyncFacts bad : {InitialSyncFacts{false, true, false, 3, 3}, InitialSyncFacts{true, false, false, 3, 3},
                               InitialSyncFacts{true, true, true, 3, 3}, InitialSyncFacts{true, true, false, 3, 2},
                               InitialSyncFacts{true, true, false, 0, 0}}) {
    Status s = drbd_.skipInitialSync("vol", bad);
    EXPECT_EQ(s.code(), ErrorCode::kConflict);
    EXPECT_EQ(s.reason(), "initial_sync_required");
  }
  EXPECT_NE(checkInitialSyncSkippable({true, true, false, 3, 2}).message().find("1 of 3 diskful hosts are not connected"),
            std::string::npos);
  EXPECT_TRUE(actions().empty());
}

// Primary (forced only for the first writer), secondary, resize.
TEST_F(DrbdLifecycleTest, PrimaryResizeAndDemote) {
  ASSERT_TRUE(drbd_.promote("vol", true).isOk());
  ASSERT_TRUE(drbd_.promote("vol", false).isOk());
  ASSERT_TRUE(drbd_.resize("vol").isOk());
  ASSERT_TRUE(drbd_.demote("vol").isOk());
  EXPECT_EQ(actions(), (std::vector<Argv>{{"drbdadm", "-c", "/etc/tandem.conf", "primary", "--force", "vol"},
                                          {"drbdadm", "-c", "/etc/tandem.conf", "primary", "vol"},
                                          {"drbdadm", "-c", "/etc/tandem.conf", "resize", "vol/0"},
                                          {"drbdadm", "-c", "/etc/tandem.conf", "secondary", "vol"}}));
}

// Adding a peer rewrites the file and adjusts; removing one disconnects, deletes and forgets the
// peer while the file still names it, then rewrites the file without it and adjusts.
TEST_F(DrbdLifecycleTest, AddAndRemovePeer) {
  auto spec = makeSpec("vol", 1000, 3, 0);
  ASSERT_TRUE(drbd_.addPeer(spec).isOk());
  EXPECT_EQ(actions(), (std::vector<Argv>{{"drbdadm", "-c", "/etc/tandem.conf", "adjust", "vol"}}));
  fake_.clearCalls();
  ASSERT_TRUE(drbd_.removePeer(spec, "n3").isOk());
  EXPECT_EQ(actions(), (std::vector<Argv>{{"drbdadm", "-c", "/etc/tandem.conf", "disconnect", "vol:n3"},
                                          {"drbdadm", "-c", "/etc/tandem.conf", "del-peer", "vol:n3"},
                                          {"drbdadm", "-c", "/etc/tandem.conf", "forget-peer", "vol:n3"},
                                          {"drbdadm", "-c", "/etc/tandem.conf", "adjust", "vol"}}));
  std::ifstream in(dir_.path + "/res/vol.res");
  std::string text((std::istreambuf_iterator<char>(in)), {});
  EXPECT_FALSE(contains(text, "\"n3\""));
}

// Delete: down, wipe the metadata (diskful only), remove the file. A failing step stops the
// sequence and its error carries the tool's stderr.
TEST_F(DrbdLifecycleTest, DeleteAndErrorsKeepStderr) {
  auto spec = makeSpec("vol", 1000, 2, 0);
  ASSERT_TRUE(writer_.write(spec).isOk());
  fake_.clearCalls();
  ASSERT_TRUE(drbd_.remove(spec, "n1").isOk());
  EXPECT_EQ(actions(), (std::vector<Argv>{{"drbdadm", "-c", "/etc/tandem.conf", "down", "vol"},
                                          {"drbdmeta", "--force", "1000", "v09", "/dev/tandem/vol", "internal", "wipe-md"}}));
  EXPECT_FALSE(std::filesystem::exists(dir_.path + "/res/vol.res"));
  fake_.onFailure({"drbdadm", "-c", "/etc/tandem.conf", "down"}, 11, "vol: State change failed: (-12) Device is held open by someone");
  Status s = drbd_.remove(spec, "n1");
  EXPECT_FALSE(s.isOk());
  EXPECT_TRUE(contains(s.message(), "Device is held open by someone")) << s.toString();
}

// A snapshot runs while I/O is suspended; I/O resumes even when the snapshot fails.
TEST_F(DrbdLifecycleTest, SnapshotSuspendsAndAlwaysResumesIo) {
  bool taken = false;
  ASSERT_TRUE(drbd_.snapshotWithSuspendedIo(1000, [&] {
                     EXPECT_EQ(actions().size(), 1u);  // suspended before the snapshot
                     taken = true;
                     return Status::ok();
                   }).isOk());
  EXPECT_TRUE(taken);
  Status failed = drbd_.snapshotWithSuspendedIo(1000, [] { return Status(ErrorCode::kNoSpace, "pool full"); });
  EXPECT_EQ(failed.code(), ErrorCode::kNoSpace);
  EXPECT_EQ(actions(), (std::vector<Argv>{{"drbdsetup", "suspend-io", "1000"},
                                          {"drbdsetup", "resume-io", "1000"},
                                          {"drbdsetup", "suspend-io", "1000"},
                                          {"drbdsetup", "resume-io", "1000"}}));
}

// The resource's state now: one `drbdsetup events2 --now --statistics <res>` run, folded; its
// in-flight counters are the fresh ones. A dump without the resource, a failing tool and a
// garbled dump are errors (the drain check then counts the resource as not drained).
TEST_F(DrbdLifecycleTest, CurrentStateReadsFreshStatistics) {
  const Argv any{"drbdsetup", "events2", "--now", "--statistics"};
  const Argv now{"drbdsetup", "events2", "--now", "--statistics", "vol"};
  fake_.onStdout(any,
                 "exists resource name:vol role:Primary suspended:user\n"
                 "exists device name:vol volume:0 minor:1000 disk:UpToDate client:no quorum:yes upper-pending:0 "
                 "lower-pending:0\n"
                 "exists peer-device name:vol peer-node-id:1 conn-name:n2 volume:0 pending:1 unacked:0\n"
                 "exists -\n");
  auto state = drbd_.currentState("vol");
  ASSERT_TRUE(state.isOk()) << state.status().toString();
  EXPECT_TRUE(state->suspended);
  EXPECT_EQ(state->peers.at(1).pending, 1u);
  EXPECT_EQ(inFlight(*state), "peer n2: pending:1");
  EXPECT_EQ(actions(), std::vector<Argv>{now});

  EXPECT_EQ(drbd_.currentState("other").status().code(), ErrorCode::kNotFound)
      << "the fake answers the same dump: it shows no resource `other`";
  fake_.onStdout(now, "exists resource name:vol role:Primary\n");
  EXPECT_EQ(drbd_.currentState("vol").status().code(), ErrorCode::kProtocol) << "cut short";
  fake_.onFailure(now, 10, "vol: No such resource");
  auto failed = drbd_.currentState("vol");
  EXPECT_FALSE(failed.isOk());
  EXPECT_NE(failed.status().message().find("No such resource"), std::string::npos) << failed.status().toString();
}

// The real drbdmeta on a plain file: create-md with spare peer slots, the just-created
// generation identifiers (get-gi), dump-md, then wipe-md.
TEST(DrbdMetaReal, CreateMdGetGiAndWipeOnAPlainFile) {
  TempDir dir;
  const std::string disk = dir.path + "/backing.img";
  int fd = ::open(disk.c_str(), O_CREAT | O_RDWR, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, 64 << 20), 0);
  ::close(fd);
  RecordingRealRunner runner;
  ConfigWriter writer(runner, {dir.path + "/res", dir.path + "/drbd.conf"});
  DrbdLifecycle drbd(runner, writer, {});
  auto spec = makeSpec("vol", 1000, 1, 0);
  spec.hosts[0].backing_device = disk;
  spec.max_peers = 5;
  ASSERT_TRUE(writer.ensureConfig().isOk());
  // create() runs adjust after create-md, which needs the module; run create-md the way create() does.
  auto md = runner.run({"drbdmeta", "--force", "1000", "v09", disk, "internal", "create-md", "5"});
  ASSERT_TRUE(md.isOk());
  ASSERT_EQ(md->exit_code, 0) << md->stderr_text;
  auto fresh = drbd.metadataJustCreated(1000, disk);
  ASSERT_TRUE(fresh.isOk()) << fresh.status().toString();
  EXPECT_TRUE(*fresh);
  auto dump = runner.run({"drbdmeta", "--force", "1000", "v09", disk, "internal", "dump-md"});
  ASSERT_TRUE(dump.isOk());
  EXPECT_TRUE(contains(dump->stdout_text, "max-peers 5;")) << dump->stdout_text;
  EXPECT_TRUE(contains(dump->stdout_text, "current-uuid 0x0000000000000004;"));
  // A copy with history (another current UUID set) is not "just created".
  auto set = runner.run({"drbdmeta", "--force", "1000", "v09", disk, "internal", "set-gi", "--node-id=0",
                         "ABCDEF0123456788:0000000000000000:0000000000000000:0000000000000000:1:1:0:0:0:0:0:0:0:0:0:0"});
  ASSERT_TRUE(set.isOk());
  ASSERT_EQ(set->exit_code, 0) << set->stderr_text;
  auto used = drbd.metadataJustCreated(1000, disk);
  ASSERT_TRUE(used.isOk()) << used.status().toString();
  EXPECT_FALSE(*used);
  auto wipe = runner.run({"drbdmeta", "--force", "1000", "v09", disk, "internal", "wipe-md"});
  ASSERT_TRUE(wipe.isOk());
  EXPECT_EQ(wipe->exit_code, 0) << wipe->stderr_text;
  auto gone = drbd.metadataJustCreated(1000, disk);
  EXPECT_FALSE(gone.isOk());  // no metadata left to read
}

// The real `drbdadm -d` prints the drbdsetup/drbdmeta commands each lifecycle step would run.
class DrbdDryRunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(writer_.ensureConfig().isOk());
    ASSERT_TRUE(writer_.write(spec_).isOk());
  }
  std::string dryRun(const std::string& host, const std::function<Status(DrbdLifecycle&)>& step,
                     std::vector<std::string> env = {}) {
    RecordingRealRunner runner;
    DrbdLifecycle drbd(runner, writer_, {"drbdadm", "drbdsetup", "drbdmeta", dir_.path + "/drbd.conf", host, env});
    Status s = step(drbd);
    EXPECT_TRUE(s.isOk()) << s.toString();
    return runner.allStdout();
  }
  TempDir dir_;
  RecordingRealRunner check_runner_;
  ConfigWriter writer_{check_runner_, {dir_.path + "/res", dir_.path + "/drbd.conf"}};
  DrbdResourceSpec spec_ = makeSpec("vol", 1000, 2, 1);
};

TEST_F(DrbdDryRunTest, AdjustBringsUpPeersPathsAndDisk) {
  std::string out = dryRun("n1", [](DrbdLifecycle& d) { return d.adjust("vol"); });
  for (const char* line : {"drbdsetup new-resource vol 0 --auto-promote=yes --quorum=majority --on-no-quorum=io-error",
                           "drbdsetup new-minor vol 1000 0", "drbdsetup new-peer vol 1 --_name=n2",
                           "--shared-secret=secret-vol --cram-hmac-alg=sha256 --protocol=C",
                           "drbdsetup new-path vol 1 ipv4:10.0.0.1:7000 ipv4:10.0.0.2:7000",
                           "drbdsetup new-peer vol 2 --_name=d1", "drbdsetup peer-device-options vol 2 0",
                           "drbdsetup attach 1000 /dev/tandem/vol /dev/tandem/vol internal",
                           "drbdsetup connect vol 1", "drbdsetup connect vol 2"}) {
    EXPECT_TRUE(contains(out, line)) << line << "\n" << out;
  }
  std::string client = dryRun("d1", [](DrbdLifecycle& d) { return d.adjust("vol"); });
  EXPECT_TRUE(contains(client, "drbdsetup new-minor vol 1000 0 --diskless")) << client;
  EXPECT_FALSE(contains(client, "drbdsetup attach"));
}

TEST_F(DrbdDryRunTest, LifecycleStepsPrintTheirCommands) {
  EXPECT_TRUE(contains(dryRun("n1", [](DrbdLifecycle& d) { return d.promote("vol", true); }),
                       "drbdsetup primary vol --force"));
  EXPECT_TRUE(contains(dryRun("n1", [](DrbdLifecycle& d) { return d.resize("vol"); }), "drbdsetup resize 1000"));
  EXPECT_TRUE(contains(dryRun("n1", [](DrbdLifecycle& d) { return d.skipInitialSync("vol", {true, true, false, 2, 2}); }),
                       "drbdsetup new-current-uuid 1000 --clear-bitmap"));
  std::string removed = dryRun("n1", [this](DrbdLifecycle& d) { return d.removePeer(spec_, "n2"); });
  for (const char* line : {"drbdsetup disconnect vol 1", "drbdsetup del-peer vol 1", "drbdsetup forget-peer vol 1",
                           "drbdmeta 1000 v09 /dev/tandem/vol internal --node-id=1 forget-peer"}) {
    EXPECT_TRUE(contains(removed, line)) << line << "\n" << removed;
  }
}

// `adjust` against a recorded running state (FAKE_DRBDSETUP_SHOW, the shape of `drbdsetup show`)
// where host d1 is missing and a removed peer (node-id 5) is still connected: drbdadm adds d1's
// peer, path and connection and deletes the old peer, nothing else.
TEST_F(DrbdDryRunTest, AdjustAgainstRecordedStateAddsAndRemovesPeers) {
  const std::string show = dir_.path + "/show.txt";
  std::ofstream(show) << R"(resource "vol" {
    options {
        auto-promote    yes;
        quorum          majority;
        on-no-quorum    io-error;
    }
    _this_host {
        node-id 0;
        volume 0 {
            device minor 1000;
            disk "/dev/tandem/vol";
            meta-disk internal;
        }
    }
    connection {
        _peer_node_id 1;
        path {
            _this_host ipv4 10.0.0.1:7000;
            _remote_host ipv4 10.0.0.2:7000;
        }
        net {
            protocol C;
            cram-hmac-alg "sha256";
            shared-secret "secret-vol";
            _name "n2";
        }
    }
    connection {
        _peer_node_id 5;
        path {
            _this_host ipv4 10.0.0.1:7000;
            _remote_host ipv4 10.0.0.7:7000;
        }
        net {
            protocol C;
            cram-hmac-alg "sha256";
            shared-secret "secret-vol";
            _name "gone";
        }
    }
}
)";
  std::string out = dryRun("n1", [](DrbdLifecycle& d) { return d.adjust("vol"); }, {"FAKE_DRBDSETUP_SHOW=" + show});
  EXPECT_TRUE(contains(out, "drbdsetup del-peer vol 5")) << out;
  EXPECT_TRUE(contains(out, "drbdsetup new-peer vol 2 --_name=d1")) << out;
  EXPECT_TRUE(contains(out, "drbdsetup new-path vol 2 ipv4:10.0.0.1:7000 ipv4:10.0.1.1:7000")) << out;
  EXPECT_TRUE(contains(out, "drbdsetup connect vol 2")) << out;
  EXPECT_FALSE(contains(out, "new-peer vol 1")) << "n2 is already connected\n" << out;
  EXPECT_FALSE(contains(out, "attach")) << "the disk is already attached\n" << out;
}

// Only on a host with the DRBD 9 module: the same lifecycle for real. Skipped here, saying why.
TEST(DrbdKernel, RealResourceNeedsTheModule) {
  std::ifstream proc("/proc/drbd");
  std::string first;
  if (!proc || !std::getline(proc, first) || !contains(first, "version: 9.")) {
    GTEST_SKIP() << "the DRBD 9 kernel module is not loaded (/proc/drbd "
                 << (proc ? "shows '" + first + "'" : std::string("is missing"))
                 << "): drbdadm up/status/events2 need it; the parser, drbdmeta and -d dry runs above ran for real";
  }
  TempDir dir;
  RecordingRealRunner runner;
  ConfigWriter writer(runner, {dir.path + "/res", dir.path + "/drbd.conf"});
  ASSERT_TRUE(writer.ensureConfig().isOk());
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  DrbdResourceSpec spec{"tandem-kernel-test", 49999, {{host, "127.0.0.1", 7999, 0, ""}}, "s", 1};
  DrbdLifecycle drbd(runner, writer, {"drbdadm", "drbdsetup", "drbdmeta", dir.path + "/drbd.conf", ""});
  ASSERT_TRUE(drbd.create(spec, host).isOk());
  EXPECT_TRUE(drbd.remove(spec, host).isOk());
}

}  // namespace
}  // namespace tandem::drbd
