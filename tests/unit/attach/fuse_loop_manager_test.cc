// FuseLoopDeviceManager's error paths, with a fake command runner (no devices, no root).
#include <gtest/gtest.h>

#include <filesystem>

#include "fake_command_runner.h"
#include "tandem/attach/local_device_manager.h"

namespace tandem::attach {
namespace {

namespace fs = std::filesystem;

class FuseLoopManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tandem-attach-unit-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    runner_ = std::make_shared<devices::testing::FakeCommandRunner>();
    runner_->onStdout({"losetup", "--list"}, R"({"loopdevices": []})");
    LocalDeviceOptions options;
    options.state_dir = dir_ + "/state";
    options.link_root = dir_ + "/links";
    auto manager = createLocalDeviceManager(options, {false, true, true, ""}, runner_);
    ASSERT_TRUE(manager.isOk()) << manager.status().toString();
    manager_ = std::move(manager).value();
  }
  void TearDown() override { fs::remove_all(dir_); }

  AttachSpec spec() const { return {"vol", NbdEndpoint::tcp("127.0.0.1", 10809, "vol"), 1 << 20}; }

  std::string dir_;
  std::shared_ptr<devices::testing::FakeCommandRunner> runner_;
  std::unique_ptr<LocalDeviceManager> manager_;
};

// An unreachable endpoint (tandem-disk-fuse exits 3): kUnavailable with its reason, and the
// half-made state directory is removed; no loop device was asked for.
TEST_F(FuseLoopManagerTest, UnreachableEndpointLeavesNothing) {
  runner_->onFailure({"tandem-disk-fuse"}, 3, "connect nbd://127.0.0.1:10809/vol: Connection refused");
  auto attached = manager_->attach(spec());
  ASSERT_FALSE(attached.isOk());
  EXPECT_EQ(attached.status().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(attached.status().reason(), kReasonEndpointUnavailable);
  EXPECT_NE(attached.status().message().find("Connection refused"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir_ + "/state/vol"));
  for (const auto& call : runner_->calls())
    EXPECT_NE(call[1], "--find") << "no loop device for a failed start";
}

// The server starts but losetup fails: the error says so and the attachment is rolled back.
TEST_F(FuseLoopManagerTest, LosetupFailureRollsBack) {
  runner_->onFailure({"losetup", "--find"}, 1, "losetup: cannot find an unused loop device");
  auto attached = manager_->attach(spec());
  ASSERT_FALSE(attached.isOk());
  EXPECT_NE(attached.status().message().find("unused loop device"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir_ + "/state/vol"));
  EXPECT_FALSE(fs::exists(fs::symlink_status(dir_ + "/links/vol")));
}

// Bad specs are refused before anything runs.
TEST_F(FuseLoopManagerTest, BadSpecsAreRefused) {
  AttachSpec bad_name = spec();
  bad_name.volume = "../etc";
  AttachSpec bad_size = spec();
  bad_size.size_bytes = 1000;
  for (const AttachSpec& s : {bad_name, bad_size}) {
    EXPECT_EQ(manager_->attach(s).status().code(), ErrorCode::kInvalidArgument);
  }
  EXPECT_TRUE(runner_->calls().empty());
}

// Retargeting or detaching what is not attached: not found, and detach is idempotent.
TEST_F(FuseLoopManagerTest, NotAttached) {
  Status s = manager_->retarget("vol", NbdEndpoint::tcp("10.0.0.2", 10809, "vol"));
  EXPECT_EQ(s.code(), ErrorCode::kNotFound);
  EXPECT_EQ(s.reason(), kReasonAttachmentNotFound);
  EXPECT_TRUE(manager_->detach("vol", false).isOk());
}

// With neither FUSE nor nbd the factory refuses with no_block_device_support.
TEST(LocalDeviceManagerFactory, NoSupport) {
  auto manager = createLocalDeviceManager({}, {false, false, false, "no /dev/fuse; "},
                                          std::make_shared<devices::testing::FakeCommandRunner>());
  ASSERT_FALSE(manager.isOk());
  EXPECT_EQ(manager.status().reason(), kReasonNoBlockDeviceSupport);
}

}  // namespace
}  // namespace tandem::attach
