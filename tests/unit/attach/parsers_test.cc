// losetup --json and mountinfo parsing.
#include <gtest/gtest.h>
#include <sys/sysmacros.h>

#include "device_users.h"
#include "loop_devices.h"

namespace tandem::attach {
namespace {

// losetup's JSON list gives device, backing file (" (deleted)" dropped) and direct I/O.
TEST(LosetupJson, ParsesDevices) {
  auto loops = parseLosetupJson(R"js({"loopdevices": [
      {"name": "/dev/loop0", "back-file": "/run/tandem/attach/v/mnt/disk", "dio": true},
      {"name": "/dev/loop3", "back-file": "/tmp/x.img (deleted)", "dio": false}]})js");
  ASSERT_TRUE(loops.isOk());
  ASSERT_EQ(loops->size(), 2u);
  EXPECT_EQ((*loops)[0].device, "/dev/loop0");
  EXPECT_EQ((*loops)[0].backing_file, "/run/tandem/attach/v/mnt/disk");
  EXPECT_TRUE((*loops)[0].direct_io);
  EXPECT_EQ((*loops)[1].backing_file, "/tmp/x.img");
  EXPECT_TRUE(parseLosetupJson("").isOk());
  EXPECT_TRUE(parseLosetupJson(R"({"loopdevices": []})")->empty());
  EXPECT_FALSE(parseLosetupJson("not json").isOk());
}

// Mount points are matched by device number; escaped paths are decoded.
TEST(Mountinfo, FindsMountsOfADeviceAndMountPoints) {
  std::string text =
      "22 1 7:3 / /mnt/a\\040b rw - ext4 /dev/loop3 rw\n"
      "23 1 7:30 / /mnt/other rw - ext4 /dev/loop30 rw\n"
      "24 1 0:55 / /run/tandem/attach/v/mnt rw - fuse.tandem-disk tandem-disk:/x rw\n";
  EXPECT_EQ(mountPointsOf(text, makedev(7, 3)), std::vector<std::string>{"/mnt/a b"});
  EXPECT_TRUE(mountPointsOf(text, makedev(7, 4)).empty());
  EXPECT_TRUE(isMountPoint(text, "/run/tandem/attach/v/mnt"));
  EXPECT_FALSE(isMountPoint(text, "/run/tandem/attach/w/mnt"));
}

// What busy means: mounts, holders and O_EXCL pin a device (even force cannot detach it);
// plain openers do not.
TEST(DeviceUsers, PinnedAndDescribed) {
  DeviceUsers users;
  EXPECT_FALSE(users.any());
  users.opener_pids = {42};
  EXPECT_TRUE(users.any());
  EXPECT_FALSE(users.pinned());
  users.mount_points = {"/mnt/a"};
  EXPECT_TRUE(users.pinned());
  EXPECT_EQ(users.describe(), "mounted on /mnt/a; open by pid 42");
}

}  // namespace
}  // namespace tandem::attach
