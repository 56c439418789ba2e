#include "tandem/controller/pool_ledger.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>

#include "cluster_fixtures.h"

namespace tandem::controller {
namespace {

using namespace fixtures;

// A generated cluster under random creates, deletes, reports and re-registrations: after every
// step the ledger's running totals equal pendingBytes() and addReplicaCounts() computed from
// scratch.
TEST(PoolLedger, RunningTotalsEqualTheFullComputation) {
  std::mt19937 rng(11);
  ObservedState observed(kStart);
  GroupRecord thin, thick;
  thin.name = "thin";
  thick.name = "thick";
  thick.thin = false;
  const std::vector<GroupRecord> groups = {thin, thick};
  std::vector<std::string> nodes;
  for (int i = 0; i < 8; ++i) nodes.push_back("n" + std::to_string(i));
  std::vector<VolumeRecord> volumes;
  std::vector<ReplicaRecord> replicas;
  PoolLedger ledger;
  ledger.rebuild(volumes, replicas, groups, observed);

  auto reportsOf = [&](const std::string& node) {
    std::set<std::string> out;
    if (const NodeObservation* obs = observed.find(node)) {
      for (const auto& r : obs->report.replicas) out.insert(r.volume_uuid);
    }
    return out;
  };
  int next = 0;
  for (int step = 0; step < 600; ++step) {
    const int op = static_cast<int>(rng() % 10);
    if (op < 4 || volumes.empty()) {  // create
      VolumeRecord v = volume("v" + std::to_string(next++), "", (1 + rng() % 8) << 20);
      v.group = rng() % 2 ? "thin" : "thick";
      std::vector<std::string> chosen = nodes;
      std::shuffle(chosen.begin(), chosen.end(), rng);
      chosen.resize(1 + rng() % 3);
      v.primary_node = chosen[0];
      auto mine = replicasOf(v, chosen);
      if (rng() % 5 == 0) mine.back().diskful = false;
      volumes.push_back(v);
      replicas.insert(replicas.end(), mine.begin(), mine.end());
      ledger.setVolume(v.uuid, v.size_bytes, v.group == "thin", mine, observed);
    } else if (op < 6) {  // delete
      const VolumeRecord v = volumes[rng() % volumes.size()];
      ledger.removeVolume(v.uuid, observed);
      std::erase_if(volumes, [&](const VolumeRecord& x) { return x.uuid == v.uuid; });
      std::erase_if(replicas, [&](const ReplicaRecord& r) { return r.volume_uuid == v.uuid; });
    } else if (op < 9) {  // a node reports a random subset of its replicas (and maybe unknown ones)
      const std::string node = nodes[rng() % nodes.size()];
      std::vector<ReplicaReport> reported;
      for (const auto& r : replicas) {
        if (r.node_name == node && rng() % 3 != 0) {
          VolumeRecord v;
          v.uuid = r.volume_uuid;
          reported.push_back(replicaReport(v, nodeapi::DiskState::kUpToDate));
        }
      }
      const auto before = reportsOf(node);
      report(observed, node, reported);
      const auto after = reportsOf(node);
      for (const auto& uuid : after) {
        if (!before.count(uuid)) ledger.reported(node, uuid, true);
      }
      for (const auto& uuid : before) {
        if (!after.count(uuid)) ledger.reported(node, uuid, false);
      }
    } else {  // a node registers again: its reports are dropped
      const std::string node = nodes[rng() % nodes.size()];
      for (const auto& uuid : reportsOf(node)) ledger.reported(node, uuid, false);
      observed.registered(node, {}, kStart, 0);
    }

    PendingByPool expected = pendingBytes(volumes, replicas, groups, observed);
    for (const auto& [key, bytes] : ledger.pending()) {
      if (bytes.provisioned == 0 && bytes.thick == 0) continue;  // a pool whose pending went back to 0
      ASSERT_TRUE(expected.count(key)) << "step " << step << " " << key.first;
      EXPECT_EQ(bytes.provisioned, expected[key].provisioned) << "step " << step << " " << key.first;
      EXPECT_EQ(bytes.thick, expected[key].thick) << "step " << step << " " << key.first;
    }
    for (const auto& [key, bytes] : expected) {
      auto it = ledger.pending().find(key);
      if (bytes.provisioned != 0) {
        ASSERT_NE(it, ledger.pending().end()) << "step " << step;
      }
    }
    std::vector<PoolCandidate> candidates;
    for (const auto& n : nodes) {
      PoolCandidate c;
      c.node = n;
      candidates.push_back(c);
    }
    addReplicaCounts(candidates, replicas);
    for (const auto& c : candidates) ASSERT_EQ(ledger.replicasOn(c.node), c.node_replicas) << "step " << step;
    if (step % 100 == 99) {  // a rebuild gives the same totals
      PoolLedger fresh;
      fresh.rebuild(volumes, replicas, groups, observed);
      for (const auto& n : nodes) EXPECT_EQ(fresh.replicasOn(n), ledger.replicasOn(n));
    }
  }
}

}  // namespace
}  // namespace tandem::controller
