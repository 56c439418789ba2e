// The cluster-wide snapshot of a drbd volume across three hosts (docs/drbd.md, Snapshots): each
// host is a real DrbdVolumes on its own file pool, its DRBD commands RECORDED (no DRBD module
// here) into one shared log, prefixed with the host's name, together with the provider
// snapshots; the controller's part is its real decision function, nextDrbdSnapshotStep, fed
// with the hosts' real reports, exactly as ClusterService does. Checked: every suspend-io comes
// before any snapshot and every snapshot before any resume-io, whatever order the hosts apply
// in; and each abort path (a failed step, the controller's timeout, a host's local deadline)
// leaves every host resumed with no copy kept.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "fake_command_runner.h"
#include "recording_snapshots.h"
#include "tandem/common/clock.h"
#include "tandem/controller/drbd_snapshot.h"
#include "tandem/devices/provider_factory.h"
#include "tandem/drbd/config_writer.h"
#include "tandem/drbd/events2.h"
#include "tandem/drbd/lifecycle.h"
#include "tandem/node/drbd_volumes.h"

namespace tandem::node {
namespace {

using Argv = std::vector<std::string>;
using devices::testing::FakeCommandRunner;
constexpr uint64_t MiB = 1 << 20;
const std::string kVol = "11111111-1111-4111-8111-111111111111";
const std::string kSnap = "55555555-5555-4555-8555-555555555555";

// A host's command runner: every argv goes to the shared log behind the host's name.
class HostRunner final : public devices::CommandRunner {
 public:
  HostRunner(std::string host, FakeCommandRunner& log) : host_(std::move(host)), log_(log) {}
  Result<devices::CommandOutput> run(const std::vector<std::string>& argv) override {
    Argv tagged{host_};
    tagged.insert(tagged.end(), argv.begin(), argv.end());
    return log_.run(tagged);
  }

 private:
  std::string host_;
  FakeCommandRunner& log_;
};

struct Host {
  std::string name;
  std::map<std::string, Pool> pools;
  RecordingSnapshots* provider = nullptr;
  std::unique_ptr<HostRunner> runner;
  std::unique_ptr<drbd::ConfigWriter> writer;
  std::unique_ptr<drbd::DrbdLifecycle> lifecycle;
  std::unique_ptr<DrbdVolumes> drbd;
  std::vector<std::string> events;  // scripted events2 lines after the initial dump
};

class DrbdClusterSnapshotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tandem-drbd-cluster-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    for (const char* name : {"n1", "n2", "n3"}) {
      auto h = std::make_unique<Host>();
      h->name = name;
      const std::string home = dir_ + "/" + name;
      std::filesystem::create_directories(home + "/pool");
      std::filesystem::create_directories(home + "/drbd");
      devices::PoolConfig config;
      config.provider = "file";
      config.path = home + "/pool";
      auto provider = devices::makeProvider(config);
      ASSERT_TRUE(provider.isOk());
      auto recording = std::make_unique<RecordingSnapshots>(std::move(provider).value(), log_, Argv{name});
      h->provider = recording.get();
      h->pools["default"] = Pool{"default", std::move(recording)};
      h->runner = std::make_unique<HostRunner>(name, log_);
      const std::string conf = home + "/drbd/drbd.conf";
      h->writer = std::make_unique<drbd::ConfigWriter>(*h->runner, drbd::ConfigWriterOptions{home + "/drbd/res", conf});
      ASSERT_TRUE(h->writer->ensureConfig().isOk());
      h->lifecycle = std::make_unique<drbd::DrbdLifecycle>(
          *h->runner, *h->writer, drbd::DrbdToolOptions{"drbdadm", "drbdsetup", "drbdmeta", conf, ""});
      DrbdVolumesOptions options;
      options.self = name;
      options.suspend_deadline = std::chrono::seconds(10);
      options.clock = &clock_;
      // Scripted events2: this host's disk of the volume is UpToDate, nothing in flight; then
      // the host's `events`.
      h->drbd = std::make_unique<DrbdVolumes>(options, h->pools, *h->lifecycle, [host = h.get()] {
        drbd::Events2State state;
        std::vector<std::string> lines = {
            "exists resource name:vol role:Secondary suspended:no",
            "exists device name:vol volume:0 minor:1000 disk:UpToDate client:no quorum:yes upper-pending:0 "
            "lower-pending:0",
            "exists -"};
        lines.insert(lines.end(), host->events.begin(), host->events.end());
        for (const auto& line : lines) EXPECT_TRUE(state.apply(*drbd::parseEvents2Line(line)).isOk()) << line;
        return state;
      });
      hosts_.push_back(std::move(h));
    }
    snapshot_.uuid = kSnap;
    snapshot_.name = "s1";
    snapshot_.volume_uuid = kVol;
    // Every host holds a diskful replica of `vol` (recorded creation, not part of the checks).
    for (auto& h : hosts_) ASSERT_TRUE(apply(*h).isOk());
    log_.clearCalls();
  }
  void TearDown() override {
    hosts_.clear();
    std::filesystem::remove_all(dir_);
  }

  // What the controller's desired state gives host `h` for `vol` now (desired_state_builder.cc).
  nodeapi::DesiredReplica desired(const Host& h) const {
    nodeapi::DesiredReplica d;
    d.volume_name = "vol";
    d.volume_uuid = kVol;
    d.size_bytes = 4 * MiB;
    d.pool = "default";
    d.primary = h.name == "n1";
    d.drbd = nodeapi::DesiredDrbd{"vol", 1000, "secret", 7,
                                  {{"n1", "10.0.0.1", 7000, 0, true},
                                   {"n2", "10.0.0.2", 7000, 1, true},
                                   {"n3", "10.0.0.3", 7000, 2, true}}};
    if (started_ && snapshot_.state != controller::SnapshotState::kError) d.snapshots = {kSnap};
    if (started_ && snapshot_.state == controller::SnapshotState::kCreating) {
      d.drbd_snapshot = kSnap;
      d.drbd_snapshot_phase = snapshot_.drbd_phase == controller::SnapshotPhase::kResume ? nodeapi::SnapshotPhase::kResume
                              : snapshot_.drbd_phase == controller::SnapshotPhase::kTake
                                  ? nodeapi::SnapshotPhase::kTake
                                  : nodeapi::SnapshotPhase::kSuspend;
    }
    return d;
  }
  Status apply(Host& h) { return h.drbd->apply({desired(h)}, {}); }
  const nodeapi::ReplicaReport report(Host& h) { return h.drbd->replicaReports().at(0); }

  // One round: every host (in `order`) applies the current desired state, then the controller's
  // step runs on their reports. Returns the step.
  controller::DrbdSnapshotStep round(const std::vector<size_t>& order) {
    for (size_t i : order) EXPECT_TRUE(apply(*hosts_[i]).isOk());
    std::vector<nodeapi::ReplicaReport> reports;
    for (auto& h : hosts_) reports.push_back(report(*h));
    std::vector<std::pair<std::string, const nodeapi::ReplicaReport*>> in;
    for (size_t i = 0; i < hosts_.size(); ++i) in.emplace_back(hosts_[i]->name, &reports[i]);
    controller::DrbdSnapshotStep step = controller::nextDrbdSnapshotStep(snapshot_, in);
    switch (step.kind) {
      case controller::DrbdSnapshotStep::Kind::kWait: break;
      case controller::DrbdSnapshotStep::Kind::kAdvance: snapshot_.drbd_phase = step.phase; break;
      case controller::DrbdSnapshotStep::Kind::kAvailable: snapshot_.state = controller::SnapshotState::kAvailable; break;
      case controller::DrbdSnapshotStep::Kind::kFail:
        snapshot_.state = controller::SnapshotState::kError;
        snapshot_.message = step.message;
        break;
    }
    return step;
  }
  // The position in the log of each entry whose command (after the host) is `what`.
  std::vector<size_t> positions(const Argv& what) const {
    std::vector<size_t> out;
    auto calls = log_.calls();
    for (size_t i = 0; i < calls.size(); ++i) {
      if (calls[i].size() >= 1 + what.size() && std::equal(what.begin(), what.end(), calls[i].begin() + 1)) {
        out.push_back(i);
      }
    }
    return out;
  }
  // After an abort: no host suspended, none holds a copy, each suspend-io was resumed.
  void expectEveryHostResumedWithoutACopy() {
    for (int i = 0; i < 2; ++i) round({0, 1, 2});  // the error reaches every host
    for (auto& h : hosts_) {
      auto r = report(*h);
      EXPECT_EQ(r.suspended_for, "") << h->name;
      EXPECT_TRUE(r.snapshots.empty()) << h->name << " keeps a copy";
      size_t suspends = 0, resumes = 0;
      for (const auto& c : log_.calls()) {
        if (c.size() >= 3 && c[0] == h->name && c[1] == "drbdsetup") {
          suspends += c[2] == "suspend-io";
          resumes += c[2] == "resume-io";
        }
      }
      EXPECT_EQ(suspends, resumes) << h->name << " stays suspended";
    }
  }

  std::string dir_;
  ManualClock clock_;
  FakeCommandRunner log_;
  std::vector<std::unique_ptr<Host>> hosts_;
  controller::SnapshotRecord snapshot_;
  bool started_ = false;
};

TEST_F(DrbdClusterSnapshotTest, EverySuspendBeforeAnySnapshotAndEverySnapshotBeforeAnyResume) {
  started_ = true;
  // The hosts apply in a different order each round, as their long-polls return.
  const std::vector<std::vector<size_t>> orders = {{2, 0, 1}, {1, 2, 0}, {0, 1, 2}, {2, 1, 0}, {1, 0, 2}};
  for (size_t i = 0; i < orders.size() && snapshot_.state == controller::SnapshotState::kCreating; ++i) {
    round(orders[i]);
  }
  ASSERT_EQ(snapshot_.state, controller::SnapshotState::kAvailable) << snapshot_.message;
  auto suspends = positions({"drbdsetup", "suspend-io", "1000"});
  auto snapshots = positions({"provider", "snapshot", kVol, kSnap});
  auto resumes = positions({"drbdsetup", "resume-io", "1000"});
  ASSERT_EQ(suspends.size(), 3u);
  ASSERT_EQ(snapshots.size(), 3u);
  ASSERT_EQ(resumes.size(), 3u);
  EXPECT_LT(*std::max_element(suspends.begin(), suspends.end()), *std::min_element(snapshots.begin(), snapshots.end()))
      << "a host took its copy while another still wrote";
  EXPECT_LT(*std::max_element(snapshots.begin(), snapshots.end()), *std::min_element(resumes.begin(), resumes.end()))
      << "a host resumed before every copy was taken";
  for (auto& h : hosts_) {
    EXPECT_EQ(report(*h).snapshots, std::vector<std::string>{kSnap}) << h->name;
    EXPECT_EQ(report(*h).suspended_for, "") << h->name;
  }
  for (const auto& c : log_.calls()) std::cout << "   " << ::testing::PrintToString(c) << "\n";
}

// Abort: one host's provider snapshot fails. It resumes at once and reports it; the controller
// fails the snapshot, and every other host resumes and drops its copy.
TEST_F(DrbdClusterSnapshotTest, AFailedStepOnOneHostResumesEveryHost) {
  hosts_[1]->provider->fail_snapshot = true;
  started_ = true;
  for (int i = 0; i < 4 && snapshot_.state == controller::SnapshotState::kCreating; ++i) round({0, 1, 2});
  ASSERT_EQ(snapshot_.state, controller::SnapshotState::kError);
  EXPECT_NE(snapshot_.message.find("node n2 could not take"), std::string::npos) << snapshot_.message;
  expectEveryHostResumedWithoutACopy();
}

// Abort: the controller's timeout (ClusterService fails a snapshot still waiting past
// --drbd-snapshot-timeout, tested in ApiRouterTest): here n3 is silent (it never applies), so the
// snapshot waits in `suspend`, nobody takes a copy, until the controller fails it; then n1 and n2
// resume.
TEST_F(DrbdClusterSnapshotTest, TheControllersTimeoutResumesEveryHost) {
  started_ = true;
  for (int i = 0; i < 3; ++i) {
    auto step = round({0, 1});  // n3 is silent
    EXPECT_EQ(step.kind, controller::DrbdSnapshotStep::Kind::kWait);
  }
  EXPECT_EQ(report(*hosts_[0]).suspended_for, kSnap);
  EXPECT_EQ(snapshot_.drbd_phase, controller::SnapshotPhase::kSuspend) << "nobody takes a copy without n3";
  EXPECT_TRUE(positions({"provider", "snapshot", kVol, kSnap}).empty());
  snapshot_.state = controller::SnapshotState::kError;  // what the controller's timeout does
  expectEveryHostResumedWithoutACopy();
}

// Abort: the controller goes silent after the take phase began on some hosts; past the local
// deadline each host resumes on its own and reports the snapshot failed, which fails it.
TEST_F(DrbdClusterSnapshotTest, TheLocalDeadlineResumesEveryHostWhenTheControllerIsSilent) {
  started_ = true;
  round({0, 1, 2});  // all suspended
  ASSERT_EQ(snapshot_.drbd_phase, controller::SnapshotPhase::kTake);
  ASSERT_TRUE(apply(*hosts_[0]).isOk());  // n1 took its copy; then no phase reaches anyone
  clock_.advance(std::chrono::seconds(11));
  for (auto& h : hosts_) h->drbd->enforceDeadlines();
  for (auto& h : hosts_) EXPECT_EQ(report(*h).suspended_for, "") << h->name << " still suspended";
  auto step = round({0, 1, 2});
  EXPECT_EQ(step.kind, controller::DrbdSnapshotStep::Kind::kFail);
  expectEveryHostResumedWithoutACopy();
}

// The gap closed: the primary still has a write in flight to a peer after suspend-io (events2:
// pending:1). It does not report suspended, so the controller never reaches `take` and nobody
// copies; it never drains, so at its local deadline it resumes and reports the snapshot failed,
// and every host resumes without a copy.
TEST_F(DrbdClusterSnapshotTest, APrimaryThatNeverDrainsIsNeverCopied) {
  hosts_[0]->events = {"exists peer-device name:vol peer-node-id:1 conn-name:n2 volume:0 pending:1 unacked:0"};
  started_ = true;
  for (int i = 0; i < 3; ++i) {
    auto step = round({0, 1, 2});
    EXPECT_EQ(step.kind, controller::DrbdSnapshotStep::Kind::kWait);
  }
  EXPECT_EQ(report(*hosts_[0]).suspended_for, "") << "a write is still in flight";
  EXPECT_EQ(report(*hosts_[1]).suspended_for, kSnap);
  EXPECT_EQ(positions({"drbdsetup", "suspend-io", "1000"}).size(), 3u) << "n1 keeps I/O suspended meanwhile";
  EXPECT_TRUE(positions({"drbdsetup", "resume-io", "1000"}).empty());
  EXPECT_EQ(snapshot_.drbd_phase, controller::SnapshotPhase::kSuspend);
  EXPECT_TRUE(positions({"provider", "snapshot", kVol, kSnap}).empty());
  clock_.advance(std::chrono::seconds(11));
  for (auto& h : hosts_) h->drbd->enforceDeadlines();
  EXPECT_EQ(report(*hosts_[0]).failed_snapshots, std::vector<std::string>{kSnap});
  EXPECT_EQ(round({0, 1, 2}).kind, controller::DrbdSnapshotStep::Kind::kFail);
  expectEveryHostResumedWithoutACopy();
}

// Once the in-flight write completes (a new events2 line: pending:0 unacked:0), the primary
// reports suspended and the snapshot completes on every host.
TEST_F(DrbdClusterSnapshotTest, APrimaryIsCopiedOnceDrained) {
  hosts_[0]->events = {"exists peer-device name:vol peer-node-id:1 conn-name:n2 volume:0 pending:1 unacked:0"};
  started_ = true;
  EXPECT_EQ(round({0, 1, 2}).kind, controller::DrbdSnapshotStep::Kind::kWait);
  EXPECT_EQ(snapshot_.drbd_phase, controller::SnapshotPhase::kSuspend);
  hosts_[0]->events.push_back("change peer-device name:vol peer-node-id:1 volume:0 pending:0 unacked:0");
  for (int i = 0; i < 5 && snapshot_.state == controller::SnapshotState::kCreating; ++i) round({0, 1, 2});
  ASSERT_EQ(snapshot_.state, controller::SnapshotState::kAvailable) << snapshot_.message;
  for (auto& h : hosts_) EXPECT_EQ(report(*h).snapshots, std::vector<std::string>{kSnap}) << h->name;
}

}  // namespace
}  // namespace tandem::node
