#include "tandem/devices/file_block_device.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace tandem::devices {
namespace {

class FileBlockDeviceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tandem-fbd-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/vol";
    int fd = ::open(path_.c_str(), O_CREAT | O_RDWR, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, 1 << 20), 0);
    ::close(fd);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_, path_;
};

// Writes read back, and a write past the end is refused without changing anything.
TEST_F(FileBlockDeviceTest, WriteReadAndRangeCheck) {
  auto dev = FileBlockDevice::open(path_);
  ASSERT_TRUE(dev.isOk()) << dev.status().toString();
  EXPECT_EQ((*dev)->sizeBytes(), 1u << 20);
  std::vector<std::byte> data(4096, std::byte{0x5a});
  ASSERT_TRUE((*dev)->write(8192, data, true).isOk());
  std::vector<std::byte> back(4096);
  ASSERT_TRUE((*dev)->read(8192, back).isOk());
  EXPECT_EQ(back, data);
  Status past = (*dev)->write((1 << 20) - 100, data, false);
  EXPECT_EQ(past.code(), ErrorCode::kInvalidArgument);
}

// writeZeroes zeroes data and a hole punched by trim reads back as zeroes.
TEST_F(FileBlockDeviceTest, ZeroesAndTrimReadAsZero) {
  auto dev = FileBlockDevice::open(path_);
  ASSERT_TRUE(dev.isOk());
  std::vector<std::byte> data(65536, std::byte{0x11});
  ASSERT_TRUE((*dev)->write(0, data, false).isOk());
  ASSERT_TRUE((*dev)->writeZeroes(0, 4096, false).isOk());
  ASSERT_TRUE((*dev)->trim(4096, 4096, false).isOk());
  std::vector<std::byte> back(8192);
  ASSERT_TRUE((*dev)->read(0, back).isOk());
  EXPECT_EQ(back, std::vector<std::byte>(8192, std::byte{0}));
  std::vector<std::byte> rest(4096);
  ASSERT_TRUE((*dev)->read(8192, rest).isOk());
  EXPECT_EQ(rest, std::vector<std::byte>(4096, std::byte{0x11}));
}

// extents() reports the file system's holes and data, merged, covering exactly the range asked;
// a punched hole is a hole again; a range past the end is refused.
TEST_F(FileBlockDeviceTest, ExtentsFollowTheFilesHolesAndData) {
  auto dev = FileBlockDevice::open(path_);
  ASSERT_TRUE(dev.isOk());
  constexpr uint64_t kQuarter = 256 * 1024;
  std::vector<std::byte> data(kQuarter, std::byte{0x22});
  ASSERT_TRUE((*dev)->write(kQuarter, data, false).isOk());
  ASSERT_TRUE((*dev)->write(2 * kQuarter, data, false).isOk());
  auto all = (*dev)->extents(0, 4 * kQuarter);
  ASSERT_TRUE(all.isOk()) << all.status().toString();
  EXPECT_EQ(*all, (std::vector<Extent>{{kQuarter, true}, {2 * kQuarter, false}, {kQuarter, true}}));
  auto inner = (*dev)->extents(kQuarter / 2, kQuarter);
  ASSERT_TRUE(inner.isOk());
  EXPECT_EQ(*inner, (std::vector<Extent>{{kQuarter / 2, true}, {kQuarter / 2, false}}));
  ASSERT_TRUE((*dev)->trim(kQuarter, kQuarter, false).isOk());
  auto trimmed = (*dev)->extents(0, 4 * kQuarter);
  ASSERT_TRUE(trimmed.isOk());
  EXPECT_EQ(*trimmed, (std::vector<Extent>{{2 * kQuarter, true}, {kQuarter, false}, {kQuarter, true}}));
  EXPECT_EQ((*dev)->extents(4 * kQuarter - 1, 2).status().code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE((*dev)->extents(0, 0)->empty());
}

TEST_F(FileBlockDeviceTest, OpenMissingFileIsNotFound) {
  auto dev = FileBlockDevice::open(dir_ + "/missing");
  ASSERT_FALSE(dev.isOk());
  EXPECT_EQ(dev.status().code(), ErrorCode::kNotFound);
  EXPECT_NE(dev.status().message().find("missing"), std::string::npos);
}

}  // namespace
}  // namespace tandem::devices
