// Events2Watcher: runs the events2 command, folds its lines, restarts it when it breaks.
#include "tandem/drbd/events2_watcher.h"

#include <condition_variable>
#include <deque>
#include <mutex>

#include <gtest/gtest.h>

#include "scripted_processes.h"

namespace tandem::drbd {
namespace {

using namespace std::chrono_literals;
using testing::ScriptedProcesses;

// The first stream dumps, changes, sends a malformed line and breaks mid-way; the watcher keeps
// the last state (stale), starts the command again, and the new dump replaces the state.
TEST(DrbdEvents2Watcher, RestartsWhenTheStreamBreaksAndSkipsBadLines) {
  ScriptedProcesses processes({
      {"exists resource name:vol role:Secondary suspended:no",
       "exists device name:vol volume:0 minor:1000 disk:Inconsistent client:no quorum:yes", "exists -",
       "change device name:vol volume:0 disk:UpToDate", "this is not an event", "change device name:vol volu"},
      {"exists resource name:vol role:Primary suspended:no",
       "exists device name:vol volume:0 minor:1000 disk:UpToDate client:no quorum:yes",
       "exists resource name:other role:Secondary suspended:no", "exists -"},
  });
  std::vector<std::string> logged;
  std::mutex log_mu;
  Events2Watcher watcher(processes, {{"drbdsetup", "events2", "--now", "--statistics"}, 0ms, [&](const std::string& m) {
                                       std::lock_guard lock(log_mu);
                                       logged.push_back(m);
                                     }});
  watcher.start();
  ASSERT_TRUE(watcher.waitUntil([](const Events2Snapshot& s) { return s.starts == 2 && s.live; }, 10s));
  auto snap = watcher.snapshot();
  EXPECT_EQ(snap.state.resource("vol")->role, "Primary");
  EXPECT_NE(snap.state.resource("other"), nullptr);
  EXPECT_EQ(snap.bad_lines, 2u);
  EXPECT_EQ(snap.last_error, "the events2 stream ended");
  EXPECT_EQ(processes.argv(), (std::vector<std::string>{"drbdsetup", "events2", "--now", "--statistics"}));
  watcher.stop();
  std::lock_guard lock(log_mu);
  EXPECT_GE(logged.size(), 3u);  // two skipped lines and a restart
}

// A malformed in-flight counter is skipped and logged; the counters it would have changed stay.
TEST(DrbdEvents2Watcher, MalformedInFlightCounterIsSkippedAndLogged) {
  ScriptedProcesses processes({{"exists resource name:vol role:Primary suspended:no",
                                "exists peer-device name:vol peer-node-id:1 conn-name:n2 volume:0 pending:1 unacked:0",
                                "exists -", "change peer-device name:vol peer-node-id:1 volume:0 pending:zero",
                                "change device name:vol volume:0 minor:1000 disk:UpToDate"}});
  std::vector<std::string> logged;
  std::mutex log_mu;
  Events2Watcher watcher(processes, {{"drbdsetup", "events2", "--now", "--statistics"}, 0ms, [&](const std::string& m) {
                                       std::lock_guard lock(log_mu);
                                       logged.push_back(m);
                                     }});
  watcher.start();
  ASSERT_TRUE(watcher.waitUntil(
      [](const Events2Snapshot& s) {
        const auto* r = s.state.resource("vol");
        return r != nullptr && r->devices.count(0) && r->devices.at(0).disk == "UpToDate";
      },
      10s));
  auto snap = watcher.snapshot();
  EXPECT_EQ(snap.bad_lines, 1u);
  EXPECT_EQ(snap.state.resource("vol")->peers.at(1).pending, 1u);
  watcher.stop();
  std::lock_guard lock(log_mu);
  bool found = false;
  for (const auto& m : logged) found = found || (m.find("skipped a line") != std::string::npos &&
                                                 m.find("pending:zero") != std::string::npos);
  EXPECT_TRUE(found) << "the malformed counter is logged";
}

// Before the first dump ends nothing is published; after a break the state is kept but not live.
TEST(DrbdEvents2Watcher, StateIsPublishedOnlyAfterTheDump) {
  ScriptedProcesses processes({{"exists resource name:vol role:Secondary suspended:no"},
                               {"exists resource name:vol role:Secondary suspended:no", "exists -",
                                "change resource name:vol role:Primary"},
                               {}});
  Events2Watcher watcher(processes, {{"drbdsetup", "events2", "--now"}, 0ms, {}});
  watcher.start();
  ASSERT_TRUE(watcher.waitUntil([](const Events2Snapshot& s) { return s.starts == 3; }, 10s));
  auto snap = watcher.snapshot();
  ASSERT_NE(snap.state.resource("vol"), nullptr);
  EXPECT_EQ(snap.state.resource("vol")->role, "Primary");
  EXPECT_FALSE(snap.live);  // the third stream has not dumped
  watcher.stop();
}

// The real subprocess runner: lines from a real program, then EOF; a program that does not exist
// is kNotFound; terminate() ends a program that would run forever.
TEST(DrbdLineProcess, SubprocessLinesEndAndTerminate) {
  SubprocessLineRunner runner;
  auto stream = runner.start({"printf", "exists resource name:a role:Secondary\\nexists -\\nlast"});
  ASSERT_TRUE(stream.isOk()) << stream.status().toString();
  std::vector<std::string> lines;
  while (true) {
    auto l = (*stream)->readLine();
    ASSERT_TRUE(l.isOk());
    if (!l->has_value()) break;
    lines.push_back(**l);
  }
  EXPECT_EQ(lines, (std::vector<std::string>{"exists resource name:a role:Secondary", "exists -", "last"}));
  EXPECT_EQ(runner.start({"/nonexistent/drbdsetup"}).status().code(), ErrorCode::kNotFound);
  auto forever = runner.start({"sleep", "1000"});
  ASSERT_TRUE(forever.isOk());
  (*forever)->terminate();
  auto eof = (*forever)->readLine();
  ASSERT_TRUE(eof.isOk());
  EXPECT_FALSE(eof->has_value());
}

// The watcher over the real runner with a program that prints a dump and exits: it restarts it.
TEST(DrbdEvents2Watcher, RealProcessIsRestarted) {
  SubprocessLineRunner runner;
  Events2Watcher watcher(runner, {{"printf", "exists resource name:r role:Primary\\nexists -\\n"}, 0ms, {}});
  watcher.start();
  ASSERT_TRUE(watcher.waitUntil(
      [](const Events2Snapshot& s) { return s.starts >= 3 && s.state.resource("r") != nullptr; }, 10s));
  watcher.stop();
  EXPECT_EQ(watcher.snapshot().state.resource("r")->role, "Primary");
}

}  // namespace
}  // namespace tandem::drbd
