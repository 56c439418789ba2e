// The events2 line parser, the state it folds into and the replica report mapped from it.
#include "tandem/drbd/events2.h"

#include <gtest/gtest.h>

#include "tandem/drbd/replica_report.h"

namespace tandem::drbd {
namespace {

// The initial dump of `drbdsetup events2 --now --statistics` for a three-node resource, in the
// shapes the DRBD 9 user's guide and drbd-utils print.
const char* const kInitialDump[] = {
    "exists resource name:vol role:Primary suspended:no force-io-failures:no may_promote:no promotion_score:10102 "
    "write-ordering:flush",
    "exists connection name:vol peer-node-id:1 conn-name:n2 connection:Connected role:Secondary ap-in-flight:0 "
    "rs-in-flight:0",
    "exists connection name:vol peer-node-id:2 conn-name:n3 connection:Connected role:Secondary ap-in-flight:0 "
    "rs-in-flight:0",
    "exists device name:vol volume:0 minor:1000 backing_dev:/dev/tandem/vol disk:UpToDate client:no open:yes "
    "quorum:yes size:1048576 read:1234 written:5678 al-writes:9 bm-writes:0 upper-pending:0 lower-pending:0 "
    "al-suspended:no blocked:no",
    "exists peer-device name:vol peer-node-id:1 conn-name:n2 volume:0 replication:Established peer-disk:UpToDate "
    "peer-client:no resync-suspended:no received:0 sent:5678 out-of-sync:0 pending:0 unacked:0",
    "exists peer-device name:vol peer-node-id:2 conn-name:n3 volume:0 replication:SyncSource peer-disk:Inconsistent "
    "peer-client:no resync-suspended:no received:0 sent:100 out-of-sync:524288 pending:0 unacked:0 done:50.00",
    "exists path name:vol peer-node-id:1 conn-name:n2 local:ipv4:10.0.0.1:7000 peer:ipv4:10.0.0.2:7000 "
    "established:yes",
    "exists -",
};

Events2State fold(const std::vector<std::string>& lines) {
  Events2State state;
  for (const auto& l : lines) {
    auto ev = parseEvents2Line(l);
    EXPECT_TRUE(ev.isOk()) << l << ": " << ev.status().toString();
    if (ev.isOk()) {
      EXPECT_TRUE(state.apply(*ev).isOk()) << l;
    }
  }
  return state;
}

std::vector<std::string> dump() { return {std::begin(kInitialDump), std::end(kInitialDump)}; }

// A line becomes verb, object and fields; a --timestamps prefix and `old->new` values are handled.
TEST(DrbdEvents2, ParsesLines) {
  auto ev = parseEvents2Line("2026-09-29T14:15:14.414179+08:00 change peer-device name:vol peer-node-id:1 "
                             "conn-name:n2 volume:0 replication:Established->SyncTarget done:12.34");
  ASSERT_TRUE(ev.isOk()) << ev.status().toString();
  EXPECT_EQ(ev->verb, EventVerb::kChange);
  EXPECT_EQ(ev->object, EventObject::kPeerDevice);
  EXPECT_EQ(ev->fields.at("replication"), "SyncTarget");
  EXPECT_EQ(ev->fields.at("done"), "12.34");
  auto end = parseEvents2Line("exists -");
  ASSERT_TRUE(end.isOk());
  EXPECT_EQ(end->object, EventObject::kEndOfDump);
  auto helper = parseEvents2Line("call helper name:vol peer-node-id:1 conn-name:n2 volume:0 helper:split-brain");
  ASSERT_TRUE(helper.isOk());
  EXPECT_EQ(helper->verb, EventVerb::kCall);
  EXPECT_EQ(helper->object, EventObject::kHelper);
}

// Malformed and truncated lines are errors (kProtocol), never crashes.
TEST(DrbdEvents2, MalformedLinesAreErrors) {
  for (const char* bad : {"", "garbage", "exists", "change resource", "frobnicate resource name:x",
                          "change gizmo name:x", "change resource name:x role", "change resource role:Primary",
                          "exists - name:x", ":", "change resource name:x :v", "\t\r"}) {
    auto ev = parseEvents2Line(bad);
    ASSERT_FALSE(ev.isOk()) << bad;
    EXPECT_EQ(ev.status().code(), ErrorCode::kProtocol) << bad;
  }
  Events2State s;
  for (const char* unusable : {"change device name:vol minor:1000 disk:UpToDate",
                               "change peer-device name:vol volume:0 replication:SyncSource",
                               "change peer-device name:vol peer-node-id:99 volume:0",
                               "change peer-device name:vol peer-node-id:1 volume:0 done:abc",
                               "change peer-device name:vol peer-node-id:1 volume:0 done:150",
                               "change device name:vol volume:x"}) {
    auto ev = parseEvents2Line(unusable);
    ASSERT_TRUE(ev.isOk()) << unusable;
    EXPECT_EQ(s.apply(*ev).code(), ErrorCode::kProtocol) << unusable;
  }
  EXPECT_TRUE(s.resources().empty());
}

// The initial dump folds into typed state and `exists -` ends it.
TEST(DrbdEvents2, InitialDumpBuildsState) {
  auto state = fold(dump());
  EXPECT_TRUE(state.initialDumpDone());
  const auto* r = state.resource("vol");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->role, "Primary");
  EXPECT_EQ(r->devices.at(0).disk, "UpToDate");
  EXPECT_EQ(r->devices.at(0).minor, 1000u);
  EXPECT_EQ(r->devices.at(0).size_kib, 1048576u);
  EXPECT_TRUE(r->devices.at(0).quorum);
  EXPECT_EQ(r->peers.at(1).conn_name, "n2");
  EXPECT_EQ(r->peers.at(1).connection, "Connected");
  EXPECT_TRUE(r->peers.at(1).path_established);
  EXPECT_EQ(r->peers.at(2).replication, "SyncSource");
  EXPECT_EQ(r->peers.at(2).done_percent, 50.0);
  EXPECT_EQ(r->peers.at(2).out_of_sync_kib, 524288u);
}

// The in-flight counters of --statistics: the device's upper-pending/lower-pending, each
// peer-device's pending/unacked (volume 0), each connection's ap-in-flight; inFlight names the
// non-zero ones and is "" once all are 0 again.
TEST(DrbdEvents2, InFlightCountersAndDrain) {
  auto state = fold(dump());
  const auto* r = state.resource("vol");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(inFlight(*r), "");
  state = fold([] {
    auto lines = dump();
    lines.push_back("change peer-device name:vol peer-node-id:1 conn-name:n2 volume:0 pending:1 unacked:0");
    lines.push_back("change peer-device name:vol peer-node-id:2 conn-name:n3 volume:0 pending:0 unacked:3");
    lines.push_back("change device name:vol volume:0 minor:1000 upper-pending:2 lower-pending:4");
    lines.push_back("change connection name:vol peer-node-id:1 conn-name:n2 ap-in-flight:8");
    lines.push_back("change peer-device name:vol peer-node-id:1 conn-name:n2 volume:1 pending:9 unacked:9");
    return lines;
  }());
  r = state.resource("vol");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->peers.at(1).pending, 1u) << "volume 1 does not overwrite volume 0";
  EXPECT_EQ(r->peers.at(1).unacked, 0u);
  EXPECT_EQ(r->peers.at(1).ap_in_flight, 8u);
  EXPECT_EQ(r->peers.at(2).unacked, 3u);
  EXPECT_EQ(r->devices.at(0).upper_pending, 2u);
  EXPECT_EQ(r->devices.at(0).lower_pending, 4u);
  EXPECT_EQ(inFlight(*r),
            "device: upper-pending:2, device: lower-pending:4, peer n2: pending:1, peer n2: ap-in-flight:8, "
            "peer n3: unacked:3");
  for (const char* line : {"change peer-device name:vol peer-node-id:1 volume:0 pending:0",
                           "change peer-device name:vol peer-node-id:2 volume:0 unacked:0",
                           "change device name:vol volume:0 upper-pending:0 lower-pending:0",
                           "change connection name:vol peer-node-id:1 ap-in-flight:0"}) {
    EXPECT_NE(inFlight(*state.resource("vol")), "") << "before " << line;
    ASSERT_TRUE(state.apply(*parseEvents2Line(line)).isOk()) << line;
  }
  EXPECT_EQ(inFlight(*state.resource("vol")), "");
}

// One `events2 --now --statistics` run's output folds into the state it shows; a dump cut short
// (no `exists -`) or with a bad line is an error naming it, never a partial state.
TEST(DrbdEvents2, DumpFoldsIntoItsState) {
  std::string text;
  for (const auto& l : dump()) text += l + "\n";
  auto state = foldEvents2Dump("\n" + text);
  ASSERT_TRUE(state.isOk()) << state.status().toString();
  EXPECT_EQ(state->resources(), fold(dump()).resources());
  EXPECT_EQ(inFlight(*state->resource("vol")), "");

  const std::string cut = text.substr(0, text.find("exists -"));
  EXPECT_EQ(foldEvents2Dump(cut).status().code(), ErrorCode::kProtocol);
  EXPECT_EQ(foldEvents2Dump("").status().code(), ErrorCode::kProtocol) << "nothing printed";
  auto bad = foldEvents2Dump("exists resource name:vol role:Primary\nexists device name:vol volume:x\nexists -\n");
  EXPECT_EQ(bad.status().code(), ErrorCode::kProtocol);
  EXPECT_NE(bad.status().message().find("line 2"), std::string::npos) << bad.status().toString();
}

// A malformed counter is an error (kProtocol) and leaves the state as it was: a peer still
// pending stays pending.
TEST(DrbdEvents2, MalformedInFlightCountersAreErrors) {
  auto state = fold({"exists resource name:vol role:Primary suspended:no",
                     "exists device name:vol volume:0 minor:1000 disk:UpToDate upper-pending:0 lower-pending:0",
                     "exists connection name:vol peer-node-id:1 conn-name:n2 connection:Connected ap-in-flight:0",
                     "exists peer-device name:vol peer-node-id:1 conn-name:n2 volume:0 pending:1 unacked:0",
                     "exists -"});
  const Events2State before = state;
  for (const char* bad : {"change peer-device name:vol peer-node-id:1 volume:0 pending:x",
                          "change peer-device name:vol peer-node-id:1 volume:0 pending:-1",
                          "change peer-device name:vol peer-node-id:1 volume:0 pending:0 unacked:",
                          "change peer-device name:vol peer-node-id:1 volume:0 pending:0 unacked:1.5",
                          "change peer-device name:vol peer-node-id:1 volume:0 pending:99999999999999999999999",
                          "change device name:vol volume:0 upper-pending:two",
                          "change device name:vol volume:0 lower-pending:0x1",
                          "change connection name:vol peer-node-id:1 ap-in-flight:abc"}) {
    auto ev = parseEvents2Line(bad);
    ASSERT_TRUE(ev.isOk()) << bad;
    Status s = state.apply(*ev);
    EXPECT_EQ(s.code(), ErrorCode::kProtocol) << bad;
    EXPECT_EQ(state.resource("vol")->peers, before.resource("vol")->peers) << bad;
    EXPECT_EQ(state.resource("vol")->devices, before.resource("vol")->devices) << bad;
  }
  EXPECT_EQ(inFlight(*state.resource("vol")), "peer n2: pending:1");
}

// Up to date, resyncing with progress, and the report the controller reads.
TEST(DrbdEvents2, ReportShowsUpToDateAndResyncProgress) {
  auto state = fold(dump());
  auto report = drbdReplicaReport("uuid-1", 1 << 30, state.resource("vol"));
  EXPECT_EQ(report.volume_uuid, "uuid-1");
  EXPECT_EQ(report.disk, nodeapi::DiskState::kUpToDate);
  EXPECT_TRUE(report.primary);
  EXPECT_TRUE(report.error.empty());
  ASSERT_EQ(report.peers.size(), 2u);
  EXPECT_EQ(report.peers[0], (nodeapi::PeerReport{"n2", nodeapi::PeerState::kUpToDate, 0, 0}));
  EXPECT_EQ(report.peers[1], (nodeapi::PeerReport{"n3", nodeapi::PeerState::kSyncing, 1u << 29, 1u << 30}));
  // The resync finishes.
  auto done = dump();
  done.push_back("change peer-device name:vol peer-node-id:2 conn-name:n3 volume:0 done:99.50");
  done.push_back("change peer-device name:vol peer-node-id:2 conn-name:n3 volume:0 replication:Established "
                 "peer-disk:UpToDate");
  auto finished = drbdReplicaReport("uuid-1", 1 << 30, fold(done).resource("vol"));
  EXPECT_EQ(finished.peers[1].state, nodeapi::PeerState::kUpToDate);
}

// A secondary's own disk: inconsistent while it syncs, outdated, failed when detached.
TEST(DrbdEvents2, OwnDiskStates) {
  auto with = [](const std::string& disk) {
    auto lines = dump();
    lines.push_back("change device name:vol volume:0 minor:1000 disk:" + disk);
    lines.push_back("change resource name:vol role:Secondary");
    return drbdReplicaReport("u", 1, fold(lines).resource("vol"));
  };
  EXPECT_EQ(with("Inconsistent").disk, nodeapi::DiskState::kInconsistent);
  EXPECT_EQ(with("Outdated").disk, nodeapi::DiskState::kOutdated);
  EXPECT_FALSE(with("Outdated").primary);
  auto failed = with("Diskless");
  EXPECT_EQ(failed.disk, nodeapi::DiskState::kFailed);
  EXPECT_EQ(failed.error, "DRBD disk state Diskless");
  auto none = drbdReplicaReport("u", 1, nullptr);
  EXPECT_EQ(none.disk, nodeapi::DiskState::kFailed);
  EXPECT_FALSE(none.error.empty());
}

// A split-brain helper call marks the peer split brain until it connects again; StandAlone
// alone is disconnected; losing quorum is reported.
TEST(DrbdEvents2, SplitBrainStandaloneAndQuorum) {
  auto lines = dump();
  lines.push_back("change connection name:vol peer-node-id:1 conn-name:n2 connection:StandAlone");
  lines.push_back("call helper name:vol peer-node-id:1 conn-name:n2 volume:0 helper:split-brain");
  lines.push_back("response helper name:vol peer-node-id:1 conn-name:n2 volume:0 helper:split-brain status:0");
  lines.push_back("change connection name:vol peer-node-id:2 conn-name:n3 connection:StandAlone");
  lines.push_back("change device name:vol volume:0 quorum:no");
  auto report = drbdReplicaReport("u", 1, fold(lines).resource("vol"));
  EXPECT_EQ(report.peers[0].state, nodeapi::PeerState::kSplitBrain);
  EXPECT_EQ(report.peers[1].state, nodeapi::PeerState::kDisconnected);
  EXPECT_NE(report.error.find("quorum"), std::string::npos);
  lines.push_back("change connection name:vol peer-node-id:1 conn-name:n2 connection:Connected");
  EXPECT_EQ(drbdReplicaReport("u", 1, fold(lines).resource("vol")).peers[0].state, nodeapi::PeerState::kUpToDate);
  lines.push_back("change connection name:vol peer-node-id:2 conn-name:n3 connection:Connecting");
  EXPECT_EQ(drbdReplicaReport("u", 1, fold(lines).resource("vol")).peers[1].state, nodeapi::PeerState::kConnecting);
}

// destroy removes what it names; diskless peers are left out of the report.
TEST(DrbdEvents2, DestroyAndDisklessPeers) {
  auto lines = dump();
  lines.push_back("change peer-device name:vol peer-node-id:2 conn-name:n3 volume:0 replication:Established "
                  "peer-disk:Diskless peer-client:yes");
  EXPECT_EQ(drbdReplicaReport("u", 1, fold(lines).resource("vol")).peers.size(), 1u);
  lines.push_back("destroy connection name:vol peer-node-id:1 conn-name:n2");
  EXPECT_EQ(fold(lines).resource("vol")->peers.count(1), 0u);
  lines.push_back("destroy resource name:vol");
  EXPECT_EQ(fold(lines).resource("vol"), nullptr);
}

// Every truncation of the sample lines, and seeded random byte changes to them, parse or fail
// cleanly, and whatever applies leaves a state that maps onto a report (the fuzzer's contract,
// run here on every build; fuzz/events2_fuzzer.cc explores further).
TEST(DrbdEvents2, TruncatedAndMutatedLinesNeverCrash) {
  Events2State state;
  size_t parsed = 0, failed = 0;
  auto feed = [&](const std::string& line) {
    auto ev = parseEvents2Line(line);
    if (!ev.isOk()) {
      EXPECT_EQ(ev.status().code(), ErrorCode::kProtocol);
      ++failed;
      return;
    }
    ++parsed;
    Status s = state.apply(*ev);
    EXPECT_TRUE(s.isOk() || s.code() == ErrorCode::kProtocol) << s.toString();
  };
  uint32_t seed = 12345;
  auto next = [&] { return seed = seed * 1103515245u + 12345u; };
  for (const auto& line : dump()) {
    for (size_t n = 0; n <= line.size(); ++n) feed(line.substr(0, n));
    for (int i = 0; i < 200; ++i) {
      std::string mutated = line;
      for (int k = 0; k < 3; ++k) mutated[next() % mutated.size()] = static_cast<char>(next() % 256);
      feed(mutated);
    }
  }
  EXPECT_GT(parsed, 0u);
  EXPECT_GT(failed, 0u);
  for (const auto& [name, resource] : state.resources()) (void)drbdReplicaReport(name, 1 << 20, &resource);
}

}  // namespace
}  // namespace tandem::drbd
