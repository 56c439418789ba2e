// Choosing the block device backend from what the host has.
#include "tandem/attach/host_capabilities.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

namespace tandem::attach {
namespace {

// FUSE + loop is chosen when present (the kernel nbd backend is a seam, never chosen yet).
TEST(HostCapabilities, ChoosesFuseLoopWhenPresent) {
  auto backend = chooseDeviceBackend({true, true, true, ""});
  ASSERT_TRUE(backend.isOk());
  EXPECT_EQ(*backend, DeviceBackend::kFuseLoop);
  EXPECT_EQ(deviceBackendName(*backend), "fuse-loop");
}

// Without FUSE (or loop), and without a usable nbd: no_block_device_support, saying why.
TEST(HostCapabilities, NoFuseNoNbdIsAClearError) {
  for (HostCapabilities caps : {HostCapabilities{false, false, true, "cannot open /dev/fuse; "},
                                HostCapabilities{true, true, false, "no /dev/loop-control; "}}) {
    auto backend = chooseDeviceBackend(caps);
    ASSERT_FALSE(backend.isOk());
    EXPECT_EQ(backend.status().code(), ErrorCode::kUnsupported);
    EXPECT_EQ(backend.status().reason(), "no_block_device_support");
    EXPECT_NE(backend.status().message().find(caps.detail), std::string::npos);
  }
}

// Detection reads the given /dev and /sys roots.
TEST(HostCapabilities, DetectsFromTheGivenRoots) {
  char tmpl[] = "/tmp/tandem-caps-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string root = tmpl;
  std::filesystem::create_directories(root + "/dev");
  std::filesystem::create_directories(root + "/sys/module/nbd");
  std::ofstream(root + "/dev/loop-control").close();
  HostCapabilities caps = detectHostCapabilities({root + "/dev", root + "/sys"});
  EXPECT_TRUE(caps.kernel_nbd);
  EXPECT_TRUE(caps.loop);
  EXPECT_FALSE(caps.fuse);
  EXPECT_NE(caps.detail.find("/dev/fuse"), std::string::npos);
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace tandem::attach
