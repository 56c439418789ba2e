#include "tandem/node/attachment_reconciler.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

namespace tandem::node {
namespace {

constexpr const char* kUuid = "0b0e2b5e-4c0a-4f43-9a86-3f1b7a0f5e11";

// A LocalDeviceManager that keeps its devices in memory; `busy` volumes refuse a detach.
class FakeDevices final : public attach::LocalDeviceManager {
 public:
  std::string_view backendName() const override { return "fake"; }
  Result<attach::AttachedDevice> attach(const attach::AttachSpec& spec) override {
    ++attach_calls;
    if (unreachable) return Status(ErrorCode::kUnavailable, "refused").withReason("nbd_endpoint_unavailable");
    attach::AttachmentInfo& info = devices[spec.volume];
    if (info.volume.empty()) ++devices_made;
    info.volume = spec.volume;
    info.device_path = "/dev/loop" + std::to_string(devices_made);
    info.stable_path = "/links/" + spec.volume;
    info.endpoint = spec.endpoint;
    info.size_bytes = spec.size_bytes;
    info.volume_uuid = spec.volume_uuid;
    info.health = attach::AttachmentHealth::kHealthy;
    return attach::AttachedDevice{spec.volume, info.device_path, info.stable_path};
  }
  Status retarget(std::string_view, const attach::NbdEndpoint&) override { return Status::ok(); }
  Status resize(std::string_view volume, uint64_t size_bytes) override {
    ++resize_calls;
    if (size_bytes > export_size) {
      return Status(ErrorCode::kUnavailable, "export has " + std::to_string(export_size) + " bytes")
          .withReason("nbd_endpoint_unavailable");
    }
    devices[std::string(volume)].size_bytes = size_bytes;
    return Status::ok();
  }
  Status detach(std::string_view volume, bool force) override {
    if (busy.count(std::string(volume)) && !(force && !mounted)) {
      return Status(ErrorCode::kConflict, "mounted on /mnt").withReason("device_busy");
    }
    devices.erase(std::string(volume));
    return Status::ok();
  }
  Result<std::vector<attach::AttachmentInfo>> list() override {
    std::vector<attach::AttachmentInfo> out;
    for (const auto& [_, info] : devices) out.push_back(info);
    return out;
  }
  Result<attach::AdoptReport> adopt() override { return attach::AdoptReport{}; }

  std::map<std::string, attach::AttachmentInfo> devices;
  std::set<std::string> busy;  // open (detached with force) or, with `mounted`, pinned
  bool mounted = false;
  bool unreachable = false;
  uint64_t export_size = 1 << 20;  // what the primary serves: a resize past it fails
  int attach_calls = 0;
  int resize_calls = 0;
  int devices_made = 0;
};

nodeapi::DesiredAttachment desired(bool primary_here = false) {
  return nodeapi::DesiredAttachment{"v", kUuid, 1 << 20, "10.0.0.1", 10809, "v", primary_here};
}

// A desired attachment becomes one device (applying twice makes no second), reported healthy at
// its stable path; the primary's own node connects over its UNIX socket, others over TCP.
TEST(AttachmentReconciler, AttachesOnceAndReports) {
  FakeDevices devices;
  AttachmentReconciler r(devices, "/run/n/nbd.sock");
  ASSERT_TRUE(r.apply({desired()}).isOk());
  ASSERT_TRUE(r.apply({desired()}).isOk());
  EXPECT_EQ(devices.devices_made, 1);
  EXPECT_EQ(devices.devices["v"].endpoint.tcp_host, "10.0.0.1");
  EXPECT_EQ(devices.devices["v"].endpoint.export_name, "v");
  auto report = r.report();
  ASSERT_EQ(report.size(), 1u);
  EXPECT_EQ(report[0].volume_uuid, kUuid);
  EXPECT_EQ(report[0].device_path, "/links/v");
  EXPECT_EQ(report[0].health, nodeapi::DeviceHealth::kHealthy);
  EXPECT_FALSE(report[0].busy);
  ASSERT_TRUE(r.apply({desired(/*primary_here=*/true)}).isOk());
  EXPECT_EQ(devices.devices["v"].endpoint.unix_path, "/run/n/nbd.sock") << "the primary moved here";
}

// An attach that fails is reported with its error (and absent), and the apply fails so the
// node retries; the next successful apply clears the error.
TEST(AttachmentReconciler, FailedAttachIsReportedAndRetried) {
  FakeDevices devices;
  devices.unreachable = true;
  AttachmentReconciler r(devices, "");
  Status s = r.apply({desired()});
  EXPECT_EQ(s.reason(), "nbd_endpoint_unavailable");
  auto report = r.report();
  ASSERT_EQ(report.size(), 1u);
  EXPECT_EQ(report[0].health, nodeapi::DeviceHealth::kAbsent);
  EXPECT_NE(report[0].error.find("refused"), std::string::npos) << report[0].error;
  devices.unreachable = false;
  ASSERT_TRUE(r.apply({desired()}).isOk());
  EXPECT_EQ(r.report().at(0).error, "");
}

// A device no longer desired is detached; a busy one is kept and reported busy (so the
// controller can answer device_busy), until it is desired again or detached.
TEST(AttachmentReconciler, DetachesWhatIsNoLongerDesiredUnlessBusy) {
  FakeDevices devices;
  AttachmentReconciler r(devices, "");
  ASSERT_TRUE(r.apply({desired()}).isOk());
  devices.busy.insert("v");
  Status s = r.apply({});
  EXPECT_EQ(s.reason(), "device_busy");
  EXPECT_EQ(devices.devices.count("v"), 1u);
  auto report = r.report();
  ASSERT_EQ(report.size(), 1u);
  EXPECT_TRUE(report[0].busy);
  EXPECT_EQ(report[0].volume_uuid, kUuid);
  EXPECT_NE(report[0].error.find("mounted on /mnt"), std::string::npos) << report[0].error;

  ASSERT_TRUE(r.apply({desired()}).isOk()) << "desired again: the same device";
  EXPECT_EQ(devices.devices_made, 1);
  EXPECT_FALSE(r.report().at(0).busy);

  devices.busy.clear();
  ASSERT_TRUE(r.apply({}).isOk());
  EXPECT_TRUE(devices.devices.empty());
  EXPECT_TRUE(r.report().empty());
}

// Regression: a node worker restarted while a detach was refused (the device is mounted) has
// never seen the volume desired. It must still report the device busy, by the uuid kept on the
// host; before the fix it reported nothing, and the controller took the silence for "removed"
// and dropped the attachment of a device still mounted on the host.
TEST(AttachmentReconciler, RestartedWorkerStillReportsABusyDevice) {
  FakeDevices devices;
  {
    AttachmentReconciler before(devices, "");
    ASSERT_TRUE(before.apply({desired()}).isOk());
  }
  devices.busy.insert("v");
  AttachmentReconciler after(devices, "");  // the restarted worker, detach pending at the controller
  auto early = after.report();
  ASSERT_EQ(early.size(), 1u) << "reported before its first apply too";
  EXPECT_EQ(early[0].volume_uuid, kUuid);
  EXPECT_FALSE(early[0].busy);
  EXPECT_EQ(after.apply({}).reason(), "device_busy");
  auto report = after.report();
  ASSERT_EQ(report.size(), 1u);
  EXPECT_EQ(report[0].volume_uuid, kUuid);
  EXPECT_TRUE(report[0].busy);
  EXPECT_EQ(report[0].device_path, "/links/v");
}

// An online grow: the device follows the desired size once the export has grown (until then
// the error is reported and the apply fails, to be retried), and is never re-made meanwhile.
TEST(AttachmentReconciler, GrowsTheDeviceOnceTheExportHasGrown) {
  FakeDevices devices;
  AttachmentReconciler r(devices, "");
  ASSERT_TRUE(r.apply({desired()}).isOk());
  nodeapi::DesiredAttachment bigger = desired();
  bigger.size_bytes = 4 << 20;
  Status s = r.apply({bigger});
  EXPECT_EQ(s.reason(), "nbd_endpoint_unavailable") << "the primary has not grown it yet";
  EXPECT_EQ(devices.devices["v"].size_bytes, 1u << 20);
  EXPECT_NE(r.report().at(0).error.find("export has"), std::string::npos) << r.report().at(0).error;
  devices.export_size = 4 << 20;
  ASSERT_TRUE(r.apply({bigger}).isOk());
  EXPECT_EQ(devices.devices["v"].size_bytes, 4u << 20);
  EXPECT_EQ(devices.devices_made, 1) << "the same device, grown";
  EXPECT_EQ(r.report().at(0).error, "");
  const int calls = devices.resize_calls;
  ASSERT_TRUE(r.apply({bigger}).isOk());
  EXPECT_EQ(devices.resize_calls, calls) << "confirmed once, not on every apply";
}

// A forced detach removes a device that is only open, never one that is mounted.
TEST(AttachmentReconciler, ForcedDetach) {
  FakeDevices devices;
  AttachmentReconciler r(devices, "");
  ASSERT_TRUE(r.apply({desired()}).isOk());
  devices.busy.insert("v");
  devices.mounted = true;
  EXPECT_EQ(r.apply({}, {"v"}).reason(), "device_busy");
  EXPECT_EQ(devices.devices.count("v"), 1u);
  devices.mounted = false;
  EXPECT_EQ(r.apply({}).reason(), "device_busy") << "open, without force";
  ASSERT_TRUE(r.apply({}, {"v"}).isOk());
  EXPECT_TRUE(devices.devices.empty());
  EXPECT_TRUE(r.report().empty());
}

}  // namespace
}  // namespace tandem::node
