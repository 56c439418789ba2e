#include "tandem/nodeapi/codec.h"

#include <gtest/gtest.h>

namespace tandem::nodeapi {
namespace {

constexpr const char* kUuid = "0b0e2b5e-4c0a-4f43-9a86-3f1b7a0f5e11";

PoolReport pool() { return PoolReport{"default", "file", true, true, 100 << 20, 60 << 20, 300 << 20}; }

Registration registration() {
  Registration g;
  g.name = "n1";
  g.uuid = kUuid;
  g.address = "10.0.0.1";
  g.nbd_port = 10809;
  g.replication_port = 7789;
  g.labels = {{"rack", "r1"}, {"zone", "a"}};
  g.pools = {pool(), PoolReport{"fast", "zfs", false, true, 1 << 30, 0, 0}};
  return g;
}

StatusReport statusReport() {
  StatusReport s;
  s.applied_generation = 42;
  s.pools = {pool()};
  s.pools[0].unmanaged = {UnmanagedVolume{"legacy", 1 << 20, "/pool/legacy.img"}, UnmanagedVolume{"x", 0, ""}};
  ReplicaReport primary{kUuid, DiskState::kUpToDate, "gen-1", true, "", {}, {"snap-a", "snap-b"}, {"snap-c"}, "revert-1", 3 << 20};
  primary.peers = {
      PeerReport{"n2", PeerState::kSyncing, 1 << 20, 4 << 20}, PeerReport{"n3", PeerState::kUpToDate, 0, 0},
      PeerReport{"n4", PeerState::kConnecting, 0, 0}, PeerReport{"n5", PeerState::kDisconnected, 0, 0},
      PeerReport{"n6", PeerState::kSplitBrain, 0, 0}};
  primary.backing_path = "/pool/" + std::string(kUuid) + ".img";
  primary.suspended_for = "8e3b8d90-4f70-4da0-9c57-2e9f4b1d3c44";  // a drbd replica mid-snapshot
  s.replicas = {
      primary,
      ReplicaReport{"6c1f6b7e-2d5e-4b8e-9a35-0c7d2f9b1a22", DiskState::kInconsistent, "", false, "", {}, {}, {}},
      ReplicaReport{"7d2a7c8f-3e6f-4c9f-8b46-1d8e3a0c2b33", DiskState::kFailed, "", false, "pool full", {}, {}, {}}};
  s.attachments = {AttachmentReport{kUuid, "/dev/tandem/v", DeviceHealth::kHealthy, true, "device_busy: mounted"},
                   AttachmentReport{"6c1f6b7e-2d5e-4b8e-9a35-0c7d2f9b1a22", "", DeviceHealth::kAbsent, false, "x"},
                   AttachmentReport{"u3", "/dev/tandem/w", DeviceHealth::kDisconnected, false, ""},
                   AttachmentReport{"u4", "/dev/tandem/x", DeviceHealth::kBroken, false, ""}};
  s.nbd_socket = "/var/lib/tandem/nbd.sock";
  s.device_link_root = "/dev/tandem";
  s.no_block_devices = "cannot open /dev/fuse; no /dev/loop-control";  // round-trips (not a real combination)
  s.drbd = DrbdCapabilityReport{true, "9.2.8", ""};
  return s;
}

DesiredState desiredState() {
  DesiredState s;
  s.generation = 7;
  s.cluster_id = "c-1";
  s.node = "n1";
  s.replicas.push_back(DesiredReplica{"v",
                                      kUuid,
                                      4096,
                                      3,
                                      "default",
                                      false,
                                      true,
                                      true,
                                      {DesiredPeer{"n2", "127.0.0.1", 7000}, DesiredPeer{"n3", "h3", 7001}},
                                      {"snap-a", "snap-b"},
                                      {"snap-b"},
                                      kUuid,
                                      "snap-z",
                                      true,
                                      "snap-a",
                                      "revert-1",
                                      "0123456789abcdef"});
  s.replicas.push_back(
      DesiredReplica{"w", "6c1f6b7e-2d5e-4b8e-9a35-0c7d2f9b1a22", 8192, 1, "p", true, false, false, {}, {}, {}});
  s.attachments = {DesiredAttachment{"v", kUuid, 4096, "10.0.0.2", 10809, "v", false},
                   DesiredAttachment{"w", "6c1f6b7e-2d5e-4b8e-9a35-0c7d2f9b1a22", 8192, "h", 1, "w", true}};
  s.force_detach = {"x", "y"};
  s.replicas[1].adopt_from = "legacy";
  DesiredDrbd drbd{"v", 1000, "0123456789abcdef", 7,
                   {DesiredDrbdHost{"n1", "10.0.0.1", 7000, 0, true}, DesiredDrbdHost{"n2", "10.0.0.2", 7001, 1, true},
                    DesiredDrbdHost{"c1", "10.0.0.3", 7000, 2, false}}};
  s.replicas[0].drbd = drbd;
  s.attachments[0].drbd = drbd;
  s.attachments[0].nbd = true;  // an nbd attachment of a drbd volume
  s.replicas[0].drbd_snapshot = "8e3b8d90-4f70-4da0-9c57-2e9f4b1d3c44";
  s.replicas[0].drbd_snapshot_phase = SnapshotPhase::kTake;
  s.release = {DesiredRelease{"gone", "7d2a7c8f-3e6f-4c9f-8b46-1d8e3a0c2b33", "p", "gone-disk"}};
  return s;
}

// Every message survives encode → decode unchanged.
TEST(NodeApiCodec, RoundTrips) {
  auto g = decodeRegistration(encodeRegistration(registration()));
  ASSERT_TRUE(g.isOk()) << g.status().toString();
  EXPECT_EQ(*g, registration());
  Registration fresh = registration();
  fresh.uuid.clear();
  EXPECT_EQ(encodeRegistration(fresh).find("uuid"), std::string::npos)
      << "a first registration sends no uuid";
  EXPECT_EQ(*decodeRegistration(encodeRegistration(fresh)), fresh);

  auto s = decodeStatusReport(encodeStatusReport(statusReport()));
  ASSERT_TRUE(s.isOk()) << s.status().toString();
  EXPECT_EQ(*s, statusReport());

  auto d = decodeDesiredState(encodeDesiredState(desiredState()));
  ASSERT_TRUE(d.isOk()) << d.status().toString();
  EXPECT_EQ(*d, desiredState());

  RegistrationReply reply{kUuid, "tok", "c-1"};
  auto r = decodeRegistrationReply(encodeRegistrationReply(
      reply, std::string(R"({"name":"n1","uuid":")") + kUuid + R"(","state":"online"})"));
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(*r, reply);
}

// The wire form the other side has always read: nested volume, snake_case states.
TEST(NodeApiCodec, WireFormIsTheDocumentedOne) {
  std::string desired = encodeDesiredState(desiredState());
  EXPECT_NE(desired.find(R"("volume":{"name":"v","uuid":")"), std::string::npos) << desired;
  EXPECT_NE(desired.find(R"("peers":[{"node":"n2","host":"127.0.0.1","port":7000})"), std::string::npos)
      << desired;
  EXPECT_NE(desired.find(R"("discard_generation":"0123456789abcdef")"), std::string::npos) << desired;
  EXPECT_EQ(desired.rfind("discard_generation"), desired.find("discard_generation"))
      << "only a replica with something to discard carries the field: " << desired;
  std::string status = encodeStatusReport(statusReport());
  EXPECT_NE(status.find(R"("disk":"up_to_date")"), std::string::npos) << status;
  EXPECT_NE(status.find(R"("state":"syncing")"), std::string::npos) << status;
  EXPECT_NE(status.find(R"("error":"pool full")"), std::string::npos) << status;
  EXPECT_NE(status.find(R"("drbd":{"loaded":true,"version":"9.2.8","reason":""})"), std::string::npos) << status;
  StatusReport without = statusReport();
  without.drbd = DrbdCapabilityReport{false, "", "no module"};
  EXPECT_NE(encodeStatusReport(without).find(R"("drbd":{"loaded":false,"version":null,"reason":"no module"})"),
            std::string::npos);
  EXPECT_NE(desired.find(R"("drbd":{"resource":"v","minor":1000,"shared_secret":"0123456789abcdef","max_peers":7,)"
                         R"("hosts":[{"node":"n1","address":"10.0.0.1","port":7000,"node_id":0,"diskful":true})"),
            std::string::npos)
      << desired;
  EXPECT_EQ(encodeDesiredState(DesiredState{}).find("drbd"), std::string::npos) << "native volumes carry none";
}

// Optional fields take their documented defaults.
TEST(NodeApiCodec, DefaultsOfOptionalFields) {
  auto s = decodeStatusReport(R"({"replicas":[{"volume_uuid":"u"}]})");
  ASSERT_TRUE(s.isOk()) << s.status().toString();
  EXPECT_EQ(s->applied_generation, 0u);
  EXPECT_EQ(s->replicas[0].disk, DiskState::kOutdated);
  EXPECT_FALSE(s->replicas[0].primary);
  EXPECT_EQ(s->replicas[0].allocated_bytes, 0u) << "an older node reports no allocation";
  EXPECT_FALSE(s->drbd.loaded) << "an older node reports no DRBD capability";
  EXPECT_EQ(s->drbd.reason, "the node did not report its DRBD capability");
  auto d = decodeDesiredState(std::string(R"({"generation":1,"cluster_id":"c","node":"n","replicas":[
    {"volume":{"name":"v","uuid":")") +
                              kUuid + R"(","size_bytes":4096,"epoch":1},"pool":"p"}]})");
  ASSERT_TRUE(d.isOk()) << d.status().toString();
  EXPECT_TRUE(d->replicas[0].thin);
  EXPECT_FALSE(d->replicas[0].quorum);
  EXPECT_FALSE(d->replicas[0].primary);
  EXPECT_EQ(d->replicas[0].discard_generation, "");
  auto tolerant = decodeDesiredState(R"({"generation":1,"cluster_id":"c","node":"n","future":true})");
  EXPECT_TRUE(tolerant.isOk()) << "the node tolerates fields added by a newer controller";
}

// A state name the controller does not know (a newer node's) counts as not up to date, as the
// OpenAPI contract promises: such a report is not refused.
TEST(NodeApiCodec, UnknownStateNamesCountAsNotUpToDate) {
  auto s = decodeStatusReport(R"({"replicas":[{"volume_uuid":"u","disk":"some_future_state",
    "peers":[{"node":"n2","state":"some_future_state"}]}]})");
  ASSERT_TRUE(s.isOk()) << s.status().toString();
  EXPECT_EQ(s->replicas[0].disk, DiskState::kOutdated);
  EXPECT_EQ(s->replicas[0].peers[0].state, PeerState::kDisconnected);
}

struct Malformed {
  const char* json;
  const char* field;  // the message must name it
  const char* reason;
};

void expectRefused(const Result<Registration>& r, const Malformed& m) {
  ASSERT_FALSE(r.isOk()) << m.json;
  EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find(m.field), std::string::npos) << r.status().message();
  EXPECT_EQ(r.status().reason(), m.reason) << r.status().message();
}

// A registration with any bad field is refused, naming the field.
TEST(NodeApiCodec, RefusesMalformedRegistrations) {
  const std::string ok_tail = R"("address":"h","nbd_port":1,"replication_port":2)";
  const Malformed cases[] = {
      {R"({"address":"h","nbd_port":1,"replication_port":2})", "'name'", "missing_field"},
      {R"({"name":"-x","address":"h","nbd_port":1,"replication_port":2})", "'name'", "invalid_field"},
      {R"({"name":"n","uuid":7,"address":"h","nbd_port":1,"replication_port":2})", "'uuid'", "invalid_field"},
      {R"({"name":"n","address":"","nbd_port":1,"replication_port":2})", "'address'", "invalid_field"},
      {R"({"name":"n","address":"h","nbd_port":0,"replication_port":2})", "'nbd_port'", "invalid_field"},
      {R"({"name":"n","address":"h","nbd_port":1,"replication_port":65536})", "'replication_port'",
       "invalid_field"},
      {R"({"name":"n","address":"h","nbd_port":1})", "'replication_port'", "missing_field"},
      {R"({"name":"n","address":"h","nbd_port":1,"replication_port":2,"labels":{"zone":"a b"}})",
       "'labels.zone'", "invalid_field"},
      {R"({"name":"n","address":"h","nbd_port":1,"replication_port":2,"labels":{"/":"a"}})", "'labels'",
       "invalid_field"},
      {R"({"name":"n","address":"h","nbd_port":1,"replication_port":2,"pools":[{"name":"p","provider":"file",
         "total_bytes":1,"free_bytes":2}]})",
       "'pools[0].free_bytes'", "invalid_field"},
      {R"({"name":"n","address":"h","nbd_port":1,"replication_port":2,"pools":[{"name":"p","provider":"file",
         "free_bytes":2}]})",
       "'pools[0].total_bytes'", "missing_field"},
      {R"({"name":"n","address":"h","nbd_port":1,"replication_port":2,"pools":[{"name":"p","provider":"file",
         "total_bytes":1,"free_bytes":0,"color":"red"}]})",
       "'pools[0].color'", "unknown_field"},
      {R"({"name":"n","address":"h","nbd_port":1,"replication_port":2,"extra":1})", "'extra'",
       "unknown_field"},
      {R"({"name":"n",)", "malformed JSON", "malformed_json"},
  };
  for (const auto& m : cases) expectRefused(decodeRegistration(m.json), m);
  std::string many = R"({"name":"n",)" + ok_tail + R"(,"labels":{)";
  for (int i = 0; i < 33; ++i) many += (i ? "," : "") + std::string("\"k") + std::to_string(i) + "\":\"v\"";
  expectRefused(decodeRegistration(many + "}}"), {"", "'labels'", "invalid_field"});
}

// A status report with any bad field is refused, naming the field; states must be known names.
TEST(NodeApiCodec, RefusesMalformedStatusReports) {
  const Malformed cases[] = {
      {R"({"applied_generation":-1})", "'applied_generation'", "invalid_field"},
      {R"({"replicas":[{"disk":"up_to_date"}]})", "'replicas[0].volume_uuid'", "missing_field"},
      {R"({"replicas":[{"volume_uuid":"u","disk":1}]})", "'replicas[0].disk'", "invalid_field"},
      {R"({"replicas":[{"volume_uuid":"u","primary":"yes"}]})", "'replicas[0].primary'", "invalid_field"},
      {R"({"replicas":[{"volume_uuid":"u","error":1}]})", "'replicas[0].error'", "invalid_field"},
      {R"({"replicas":[{"volume_uuid":"u","generation":1}]})", "'replicas[0].generation'", "invalid_field"},
      {R"({"replicas":[{"volume_uuid":"u","peers":[{"state":"syncing"}]}]})", "'replicas[0].peers[0].node'",
       "missing_field"},
      {R"({"replicas":[{"volume_uuid":"u","peers":[{"node":"n"}]}]})", "'replicas[0].peers[0].state'",
       "missing_field"},
      {R"({"replicas":[{"volume_uuid":"u","peers":[{"node":"n","state":true}]}]})",
       "'replicas[0].peers[0].state'", "invalid_field"},
      {R"({"replicas":[{"volume_uuid":"u","peers":[{"node":"n","state":"syncing","sync_done_bytes":-1}]}]})",
       "'replicas[0].peers[0].sync_done_bytes'", "invalid_field"},
      {R"({"pools":[{"name":"p","provider":"file","total_bytes":1,"free_bytes":2}]})",
       "'pools[0].free_bytes'", "invalid_field"},
      {R"({"replicas":{}})", "'replicas'", "invalid_field"},
      {R"({"node":"n1"})", "'node'", "unknown_field"},
      {R"({"attachments":[{"health":"healthy"}]})", "'attachments[0].volume_uuid'", "missing_field"},
      {R"({"attachments":[{"volume_uuid":"u","busy":"yes"}]})", "'attachments[0].busy'", "invalid_field"},
      {R"({"drbd":{"loaded":true,"version":"8.4.11","reason":""}})", "'drbd.version'", "invalid_field"},
      {R"({"drbd":{"loaded":false,"version":null,"reason":""}})", "'drbd.reason'", "invalid_field"},
      {R"({"drbd":{"loaded":"yes"}})", "'drbd.loaded'", "invalid_field"},
      {R"({"drbd":{"loaded":false,"reason":"x","extra":1}})", "'drbd.extra'", "unknown_field"},
      {R"({"attachments":[{"volume_uuid":"u","path":"/x"}]})", "'attachments[0].path'", "unknown_field"},
      {R"({"nbd_socket":7})", "'nbd_socket'", "invalid_field"},
  };
  for (const auto& m : cases) {
    auto r = decodeStatusReport(m.json);
    ASSERT_FALSE(r.isOk()) << m.json;
    EXPECT_NE(r.status().message().find(m.field), std::string::npos) << r.status().message();
    EXPECT_EQ(r.status().reason(), m.reason) << r.status().message();
  }
}

// A desired state with any bad field is refused, naming the field, never half-applied.
TEST(NodeApiCodec, RefusesMalformedDesiredStates) {
  const std::string head = R"({"generation":1,"cluster_id":"c","node":"n","replicas":[)";
  const std::string volume =
      std::string(R"("volume":{"name":"v","uuid":")") + kUuid + R"(","size_bytes":4096,"epoch":1})";
  const std::string cases[][2] = {
      {"{", "malformed JSON"},
      {R"({"cluster_id":"c","node":"n"})", "'generation'"},
      {R"({"generation":1,"node":"n"})", "'cluster_id'"},
      {R"({"generation":1,"cluster_id":"c"})", "'node'"},
      {head + R"({"pool":"p"}]})", "'replicas[0].volume'"},
      {head + R"({"volume":{"name":"v","uuid":"../../etc","size_bytes":4096,"epoch":1},"pool":"p"}]})",
       "'replicas[0].volume.uuid'"},
      {head + std::string(R"({"volume":{"name":"v","uuid":")") + kUuid + R"(","epoch":1},"pool":"p"}]})",
       "'replicas[0].volume.size_bytes'"},
      {head + std::string(R"({"volume":{"name":"v","uuid":")") + kUuid +
           R"(","size_bytes":4096},"pool":"p"}]})",
       "'replicas[0].volume.epoch'"},
      {head + "{" + volume + "}]}", "'replicas[0].pool'"},
      {head + "{" + volume + R"(,"pool":"p","thin":1}]})", "'replicas[0].thin'"},
      {head + "{" + volume + R"(,"pool":"p","quorum":"no"}]})", "'replicas[0].quorum'"},
      {head + "{" + volume +
           R"(,"pool":"p","primary":null,"peers":[{"node":"n2","host":"h","port":70000}]}]})",
       "'replicas[0].peers[0].port'"},
      {head + "{" + volume + R"(,"pool":"p","peers":[{"node":"n2","port":7000}]}]})",
       "'replicas[0].peers[0].host'"},
      {R"({"generation":1,"cluster_id":"c","node":"n","attachments":[{"volume_name":"v","volume_uuid":"../x",)"
       R"("size_bytes":4096,"nbd_host":"h","nbd_port":1,"nbd_export":"v"}]})",
       "'attachments[0].volume_uuid'"},
      {std::string(R"({"generation":1,"cluster_id":"c","node":"n","attachments":[{"volume_name":"v","volume_uuid":")") +
           kUuid + R"(","size_bytes":4096,"nbd_host":"h","nbd_port":1}]})",
       "'attachments[0].nbd_export'"},
  };
  for (const auto& [json, field] : cases) {
    auto r = decodeDesiredState(json);
    ASSERT_FALSE(r.isOk()) << json;
    EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(field), std::string::npos) << r.status().message();
  }
}

// The registration reply must carry the node's uuid, its token and the cluster id.
TEST(NodeApiCodec, RefusesMalformedRegistrationReplies) {
  const std::string cases[][2] = {
      {R"({"node":{"uuid":"0b0e2b5e-4c0a-4f43-9a86-3f1b7a0f5e11"},"cluster_id":"c"})", "'token'"},
      {R"({"node":{"uuid":"0b0e2b5e-4c0a-4f43-9a86-3f1b7a0f5e11"},"token":"t"})", "'cluster_id'"},
      {R"({"token":"t","cluster_id":"c"})", "'node'"},
      {R"({"node":{},"token":"t","cluster_id":"c"})", "'node.uuid'"},
      {R"({"node":{"uuid":"x"},"token":"t","cluster_id":"c"})", "'node.uuid'"},
  };
  for (const auto& [json, field] : cases) {
    auto r = decodeRegistrationReply(json);
    ASSERT_FALSE(r.isOk()) << json;
    EXPECT_NE(r.status().message().find(field), std::string::npos) << r.status().message();
  }
}

}  // namespace
}  // namespace tandem::nodeapi
