#include "tandem/controller/attachments.h"

#include <gtest/gtest.h>

#include "cluster_fixtures.h"
#include "tandem/controller/desired_state_builder.h"

namespace tandem::controller {
namespace {

using namespace fixtures;

// Volume v (primary n1) in group g; hosts n1..n4 registered, n1..n3 online.
class AttachmentsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    group_.name = "g";
    for (const char* n : {"n1", "n2", "n3"}) report(observed_, n, {});
    primary_.name = "n1";
    primary_.address = "10.0.0.1";
    primary_.nbd_port = 10809;
  }
  Result<std::optional<AttachmentRecord>> check(const std::string& host, AttachMode mode = AttachMode::kBlock,
                                                bool registered = true) {
    return checkAttach(v_, group_, attachments_, AttachRequest{host, mode, ""}, registered, observed_);
  }
  AttachmentRecord attached(const std::string& host, AttachMode mode = AttachMode::kBlock) {
    return AttachmentRecord{v_.uuid, host, mode, "", false, 0};
  }
  void reportDevice(const std::string& host, nodeapi::AttachmentReport device) {
    NodeStatusReport r;
    r.attachments = {std::move(device)};
    r.nbd_socket = "/run/" + host + "/nbd.sock";
    observed_.reported(host, std::move(r), kStart, 0);
  }
  // n1 primary and up to date, seeing n2 up to date: a handover onto n2 may start.
  void reportN1PrimaryWithN2UpToDate() {
    ReplicaReport primary =
        replicaReport(v_, nodeapi::DiskState::kUpToDate, {peer("n2", nodeapi::PeerState::kUpToDate)});
    primary.primary = true;
    report(observed_, "n1", {primary});
    report(observed_, "n2", {replicaReport(v_, nodeapi::DiskState::kUpToDate)});
  }

  VolumeRecord v_ = volume("v", "n1");
  GroupRecord group_;
  NodeRecord primary_;
  std::vector<AttachmentRecord> attachments_;
  ObservedState observed_{kStart};
};

// A first attach on an online host is allowed; an unknown host is 422, an offline one 409.
TEST_F(AttachmentsTest, RefusesUnknownAndOfflineHosts) {
  auto ok = check("n2");
  ASSERT_TRUE(ok.isOk()) << ok.status().toString();
  EXPECT_FALSE(ok->has_value());
  auto unknown = check("n9", AttachMode::kBlock, /*registered=*/false);
  EXPECT_EQ(unknown.status().code(), ErrorCode::kUnprocessable);
  EXPECT_EQ(unknown.status().reason(), "node_not_found");
  auto offline = check("n4");
  EXPECT_EQ(offline.status().code(), ErrorCode::kConflict);
  EXPECT_EQ(offline.status().reason(), "node_offline");
}

// Repeating an attach returns the same attachment (even with the host offline meanwhile); the
// other mode, or an attachment being detached, is a conflict.
TEST_F(AttachmentsTest, RepeatReturnsTheSameAttachment) {
  attachments_ = {attached("n4")};
  auto again = check("n4");
  ASSERT_TRUE(again.isOk()) << again.status().toString();
  ASSERT_TRUE(again->has_value());
  EXPECT_EQ(**again, attachments_[0]);
  EXPECT_EQ(check("n4", AttachMode::kNbd).status().reason(), "attachment_exists");
  attachments_[0].detaching = true;
  EXPECT_EQ(check("n4").status().reason(), "attachment_exists");
}

// A host that reports it cannot make local block devices (no nbd module, no usable FUSE/loop) is
// refused a block attachment with its reason (422 no_block_device_support); nbd mode is fine.
TEST_F(AttachmentsTest, RefusesBlockOnAHostWithoutBlockDevices) {
  NodeStatusReport r;
  r.no_block_devices = "cannot open /dev/fuse; no /dev/loop-control";
  observed_.reported("n3", std::move(r), kStart, 0);
  auto refused = check("n3");
  EXPECT_EQ(refused.status().code(), ErrorCode::kUnprocessable);
  EXPECT_EQ(refused.status().reason(), "no_block_device_support");
  EXPECT_NE(refused.status().message().find("cannot open /dev/fuse"), std::string::npos)
      << refused.status().message();
  EXPECT_TRUE(check("n3", AttachMode::kNbd).isOk());
}

// A second host is refused unless the group allows multi-attach.
TEST_F(AttachmentsTest, SecondHostNeedsMultiattach) {
  attachments_ = {attached("n2")};
  auto second = check("n3");
  EXPECT_EQ(second.status().code(), ErrorCode::kConflict);
  EXPECT_EQ(second.status().reason(), "multiattach_not_allowed");
  EXPECT_NE(second.status().message().find("n2"), std::string::npos) << second.status().message();
  group_.allow_multiattach = true;
  EXPECT_TRUE(check("n3").isOk());
}

// A block attachment is attaching until its host reports the device, then attached with the
// reported path; a broken device is an error with the reason; detaching wins.
TEST_F(AttachmentsTest, BlockStateFollowsTheHostsReport) {
  AttachmentRecord a = attached("n2");
  AttachmentView view = deriveAttachmentView(v_, a, &primary_, observed_, 0);
  EXPECT_EQ(view.state, AttachmentState::kAttaching);
  EXPECT_EQ(view.connection_info.driver_volume_type, "local");
  EXPECT_EQ(view.connection_info.device_path, "/dev/tandem/v");
  NodeStatusReport rooted;
  rooted.device_link_root = "/srv/links";
  observed_.reported("n2", rooted, kStart, 0);
  EXPECT_EQ(deriveAttachmentView(v_, a, &primary_, observed_, 0).connection_info.device_path, "/srv/links/v")
      << "the host's link root, before its device is reported";

  reportDevice("n2", {v_.uuid, "/tmp/links/v", nodeapi::DeviceHealth::kHealthy, false, ""});
  view = deriveAttachmentView(v_, a, &primary_, observed_, 0);
  EXPECT_EQ(view.state, AttachmentState::kAttached);
  EXPECT_EQ(view.connection_info.device_path, "/tmp/links/v");

  reportDevice("n2", {v_.uuid, "", nodeapi::DeviceHealth::kAbsent, false, "nbd_endpoint_unavailable: refused"});
  view = deriveAttachmentView(v_, a, &primary_, observed_, 0);
  EXPECT_EQ(view.state, AttachmentState::kError);
  EXPECT_EQ(view.reason, "nbd_endpoint_unavailable: refused");
  view = deriveAttachmentView(v_, a, &primary_, observed_, /*generation=*/5);
  EXPECT_EQ(view.state, AttachmentState::kAttaching) << "the host has not applied the current state yet";
  EXPECT_EQ(view.reason, "retrying: nbd_endpoint_unavailable: refused");
  VolumeRecord moving = v_;
  moving.handover_to = "n2";
  EXPECT_EQ(deriveAttachmentView(moving, a, &primary_, observed_, 0).state, AttachmentState::kAttaching)
      << "nothing serves the volume during a handover";

  a.detaching = true;
  EXPECT_EQ(deriveAttachmentView(v_, a, &primary_, observed_, 0).state, AttachmentState::kDetaching);
}

// An nbd attachment is the primary's URI; on the primary's own host also its UNIX socket.
TEST_F(AttachmentsTest, NbdConnectionInfo) {
  reportDevice("n1", {});
  AttachmentView remote = deriveAttachmentView(v_, attached("n2", AttachMode::kNbd), &primary_, observed_, 0);
  EXPECT_EQ(remote.state, AttachmentState::kAttached);
  EXPECT_EQ(remote.connection_info.driver_volume_type, "nbd");
  EXPECT_EQ(remote.connection_info.uri, "nbd://10.0.0.1:10809/v");
  EXPECT_EQ(remote.connection_info.socket, "");
  AttachmentView local = deriveAttachmentView(v_, attached("n1", AttachMode::kNbd), &primary_, observed_, 0);
  EXPECT_EQ(local.connection_info.socket, "/run/n1/nbd.sock");
}

// An nbd attachment of a drbd volume is served by its host (passed as the serving node): the
// URI names the host's export, and it is attaching until the host reports it, as a block one.
TEST_F(AttachmentsTest, DrbdNbdAttachmentFollowsItsHostsReport) {
  NodeRecord host = primary_;
  host.name = "n2";
  host.address = "10.0.0.2";
  host.nbd_port = 10810;
  AttachmentRecord a = attached("n2", AttachMode::kNbd);
  AttachmentView view = deriveAttachmentView(v_, a, &host, observed_, 0, /*drbd=*/true);
  EXPECT_EQ(view.state, AttachmentState::kAttaching);
  EXPECT_EQ(view.connection_info.driver_volume_type, "nbd");
  EXPECT_EQ(view.connection_info.uri, "nbd://10.0.0.2:10810/v");
  reportDevice("n2", {v_.uuid, "/dev/drbd/by-res/v/0", nodeapi::DeviceHealth::kHealthy, false, ""});
  EXPECT_EQ(deriveAttachmentView(v_, a, &host, observed_, 0, true).state, AttachmentState::kAttached);
  EXPECT_EQ(deriveAttachmentView(v_, a, &host, observed_, 0, false).state, AttachmentState::kAttached)
      << "a native nbd attachment needs nothing on its host";
  a.detaching = true;
  EXPECT_EQ(deriveAttachmentView(v_, a, &host, observed_, 0, true).state, AttachmentState::kDetaching);
}

// An available volume attached somewhere is `attached`, with its hosts; a degraded one stays so.
TEST_F(AttachmentsTest, VolumeStateAttached) {
  VolumeView view;
  view.state = VolumeState::kAvailable;
  markAttached(view, {});
  EXPECT_EQ(view.state, VolumeState::kAvailable);
  markAttached(view, {"n2", "n3"});
  EXPECT_EQ(view.state, VolumeState::kAttached);
  EXPECT_EQ(view.attached_hosts, (std::vector<std::string>{"n2", "n3"}));
  EXPECT_EQ(name(view.state), "attached");
  view.state = VolumeState::kDegraded;
  markAttached(view, {"n2"});
  EXPECT_EQ(view.state, VolumeState::kDegraded);
}

// A node's desired state lists its block attachments with the primary's NBD endpoint, not the
// ones being detached, nbd ones or other hosts'.
TEST_F(AttachmentsTest, DesiredStateCarriesTheHostsBlockAttachments) {
  DeclaredState declared;
  declared.generation = 7;
  declared.volumes = {v_, volume("w", "n2")};
  NodeRecord n2 = primary_;
  n2.name = "n2";
  n2.address = "10.0.0.2";
  NodeRecord n4 = primary_;
  n4.name = "n4";
  declared.nodes = {primary_, n2, n4};
  AttachmentRecord w_here = attached("n4");
  w_here.volume_uuid = "uuid-w";
  AttachmentRecord leaving = attached("n4");
  leaving.detaching = true;
  leaving.force_detach = true;
  AttachmentRecord w_on_primary = attached("n2");
  w_on_primary.volume_uuid = "uuid-w";
  declared.attachments = {leaving, w_here, w_on_primary, attached("n4", AttachMode::kNbd)};
  auto state = buildDesiredState("n4", declared);
  ASSERT_TRUE(state.isOk()) << state.status().toString();
  ASSERT_EQ(state->attachments.size(), 1u);
  const nodeapi::DesiredAttachment& a = state->attachments[0];
  EXPECT_EQ(a.volume_name, "w");
  EXPECT_EQ(a.volume_uuid, "uuid-w");
  EXPECT_EQ(a.nbd_host, "10.0.0.2");
  EXPECT_EQ(a.nbd_port, 10809);
  EXPECT_EQ(a.nbd_export, "w");
  EXPECT_FALSE(a.primary_here);
  EXPECT_EQ(state->force_detach, std::vector<std::string>{"v"}) << "v is being detached with force";
  auto on_primary = buildDesiredState("n2", declared);
  ASSERT_TRUE(on_primary.isOk());
  ASSERT_EQ(on_primary->attachments.size(), 1u);
  EXPECT_TRUE(on_primary->attachments[0].primary_here);
}

// The primary follows a lone attachment onto an up-to-date replica's node, and only there.
TEST_F(AttachmentsTest, HandoverOnlyOntoALoneUpToDateReplica) {
  using nodeapi::DiskState;
  using nodeapi::PeerState;
  std::vector<ReplicaRecord> replicas = replicasOf(v_, {"n1", "n2"});
  ReplicaReport primary = replicaReport(v_, DiskState::kUpToDate, {peer("n2", PeerState::kUpToDate)});
  primary.primary = true;
  report(observed_, "n1", {primary});
  report(observed_, "n2", {replicaReport(v_, DiskState::kUpToDate)});
  std::vector<AttachmentRecord> on_n2 = {attached("n2")};
  EXPECT_TRUE(shouldHandOver(v_, replicas, on_n2, "n2", observed_));
  EXPECT_FALSE(shouldHandOver(v_, replicas, {attached("n1")}, "n1", observed_)) << "already the primary";
  EXPECT_FALSE(shouldHandOver(v_, replicas, {attached("n2", AttachMode::kNbd)}, "n2", observed_))
      << "an nbd attachment keeps the URI it was given";
  EXPECT_FALSE(shouldHandOver(v_, replicas, {attached("n3")}, "n3", observed_)) << "no replica there";
  EXPECT_FALSE(shouldHandOver(v_, replicas, {attached("n3"), attached("n2")}, "n2", observed_))
      << "another host is attached";
  VolumeRecord moving = v_;
  moving.handover_to = "n2";
  EXPECT_FALSE(shouldHandOver(moving, replicas, on_n2, "n2", observed_)) << "one is under way";
  report(observed_, "n1", {replicaReport(v_, DiskState::kUpToDate, {peer("n2", PeerState::kSyncing)})});
  EXPECT_FALSE(shouldHandOver(v_, replicas, on_n2, "n2", observed_)) << "n2 is not up to date";

  EXPECT_TRUE(handoverDemoted(v_, observed_)) << "n1 reports its copy no longer primary";
  report(observed_, "n1", {primary});
  EXPECT_FALSE(handoverDemoted(v_, observed_));
}

// An nbd attachment that asks for it (move_primary, tandem-pool-fs) moves the primary like a
// block one, and is `attaching` until the handover is done.
TEST_F(AttachmentsTest, NbdAttachmentWithMovePrimaryHandsOver) {
  std::vector<ReplicaRecord> replicas = replicasOf(v_, {"n1", "n2"});
  reportN1PrimaryWithN2UpToDate();
  std::vector<AttachmentRecord> nbd_on_n2 = {attached("n2", AttachMode::kNbd)};
  EXPECT_FALSE(shouldHandOver(v_, replicas, nbd_on_n2, "n2", observed_, false));
  EXPECT_TRUE(shouldHandOver(v_, replicas, nbd_on_n2, "n2", observed_, true));
  EXPECT_FALSE(shouldHandOver(v_, replicas, {attached("n3", AttachMode::kNbd)}, "n3", observed_, true))
      << "no replica there";

  VolumeRecord moving = v_;
  moving.handover_to = "n2";
  AttachmentView during = deriveAttachmentView(moving, attached("n2", AttachMode::kNbd), &primary_, observed_, 0);
  EXPECT_EQ(during.state, AttachmentState::kAttaching);
  EXPECT_NE(during.reason.find("n2"), std::string::npos) << during.reason;
}

// During a handover no node is told to be primary; after it the target is.
TEST_F(AttachmentsTest, HandoverDesiredStates) {
  DeclaredState declared;
  VolumeRecord moving = v_;
  moving.handover_to = "n2";
  declared.volumes = {moving};
  declared.replicas = replicasOf(v_, {"n1", "n2"});
  NodeRecord n2 = primary_;
  n2.name = "n2";
  declared.nodes = {primary_, n2};
  EXPECT_FALSE(buildDesiredState("n1", declared)->replicas.at(0).primary);
  EXPECT_FALSE(buildDesiredState("n2", declared)->replicas.at(0).primary);
  declared.volumes[0].handover_to = "";
  declared.volumes[0].primary_node = "n2";
  EXPECT_TRUE(buildDesiredState("n2", declared)->replicas.at(0).primary);
}

}  // namespace
}  // namespace tandem::controller
