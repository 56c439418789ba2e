#include "tandem/poolfs/pool_fs.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/falloc.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <map>

namespace tandem::poolfs {
namespace {

// A controller that knows volumes, one group and its pools, and records attachments.
class FakeApi final : public VolumeApi {
 public:
  Result<std::vector<VolumeView>> listVolumes() override {
    std::vector<VolumeView> out;
    for (const auto& [name, v] : volumes) out.push_back(v);
    return out;
  }
  Result<VolumeView> getVolume(const std::string& name) override {
    auto it = volumes.find(name);
    if (it == volumes.end()) return Status(ErrorCode::kNotFound, name);
    return it->second;
  }
  Result<VolumeView> createVolume(const std::string& name, const std::string& group, uint64_t size) override {
    VolumeView v;
    v.name = name;
    v.uuid = "uuid-" + name;
    v.resource_group = group;
    v.state = "available";
    v.size_bytes = size;
    v.nbd_uri = "nbd://10.0.0.2:10809/" + name;
    volumes[name] = v;
    return v;
  }
  Result<VolumeView> growVolume(const std::string& name, uint64_t size) override {
    volumes.at(name).size_bytes = size;
    return volumes.at(name);
  }
  Status deleteVolume(const std::string& name) override {
    if (!volumes.at(name).attached_hosts.empty()) return Status(ErrorCode::kConflict, "attached");
    volumes.erase(name);
    return Status::ok();
  }
  Result<GroupView> getGroup(const std::string& name) override { return GroupView{name, 2, true, {"fast"}}; }
  Result<std::vector<StoragePoolView>> listStoragePools() override {
    return std::vector<StoragePoolView>{{"n1", "fast", "online", 8 << 20, 4 << 20},
                                        {"n2", "fast", "online", 8 << 20, 2 << 20},
                                        {"n3", "slow", "online", 64 << 20, 64 << 20},
                                        {"n4", "fast", "offline", 64 << 20, 64 << 20}};
  }
  Result<AttachmentView> attach(const std::string& volume, const std::string& host, bool move_primary) override {
    attaches.push_back(volume + "@" + host + (move_primary ? "+move" : ""));
    volumes.at(volume).attached_hosts.push_back(host);
    return AttachmentView{host, "attached", "", attach::NbdEndpoint::unixSocket("/run/n1.sock", volume)};
  }
  Result<AttachmentView> getAttachment(const std::string&, const std::string&) override {
    return Status(ErrorCode::kNotFound, "none");
  }
  Status detach(const std::string& volume, const std::string& host) override {
    detaches.push_back(volume + "@" + host);
    auto& hosts = volumes.at(volume).attached_hosts;
    std::erase(hosts, host);
    return Status::ok();
  }

  std::map<std::string, VolumeView> volumes;
  std::vector<std::string> attaches, detaches;
};

// A volume's bytes in memory, shared by every connection to it.
class MemoryIo final : public VolumeIo {
 public:
  explicit MemoryIo(std::vector<char>* bytes) : bytes_(bytes) {}
  int pread(void* buf, size_t n, uint64_t off) override {
    std::memcpy(buf, bytes_->data() + off, n);
    return 0;
  }
  int pwrite(const void* buf, size_t n, uint64_t off) override {
    std::memcpy(bytes_->data() + off, buf, n);
    return 0;
  }
  int flush() override { return 0; }
  int zero(uint64_t off, uint64_t len, bool) override {
    std::memset(bytes_->data() + off, 0, len);
    return 0;
  }

 private:
  std::vector<char>* bytes_;
};

class PoolFsTest : public ::testing::Test {
 protected:
  PoolFsTest()
      : attrs_((std::filesystem::temp_directory_path() / ("poolfs-attrs-" + std::to_string(::getpid()))).string()),
        fs_(PoolFsOptions{"g", "n1", std::chrono::milliseconds(0), std::chrono::milliseconds(1000),
                          std::chrono::milliseconds(1)},
            api_, attrs_,
            [this](const attach::NbdEndpoint& endpoint, const std::string& volume,
                   uint64_t size) -> Result<std::shared_ptr<VolumeIo>> {
              endpoints_.push_back(endpoint.describe());
              auto& bytes = data_[volume];
              if (bytes.size() < size) bytes.resize(size, 0);
              return std::shared_ptr<VolumeIo>(std::make_shared<MemoryIo>(&bytes));
            },
            RealClock::instance()) {}
  void SetUp() override { ASSERT_TRUE(fs_.start().isOk()); }
  void TearDown() override { std::filesystem::remove(attrs_.path()); }

  uint64_t create(const std::string& name, int flags = O_RDWR) {
    struct stat st;
    EXPECT_EQ(fs_.create(PoolFs::kVolumesIno, name, 0640, 10, 20, flags, &st), 0);
    return st.st_ino;
  }
  int truncate(uint64_t ino, uint64_t size) {
    struct stat st;
    SetAttrRequest r;
    r.size = size;
    return fs_.setattr(ino, r, &st);
  }
  uint64_t size(uint64_t ino) {
    struct stat st;
    EXPECT_EQ(fs_.getattr(ino, &st), 0);
    return static_cast<uint64_t>(st.st_size);
  }

  FakeApi api_;
  AttrStore attrs_;
  std::map<std::string, std::vector<char>> data_;
  std::vector<std::string> endpoints_;
  PoolFs fs_;
};

// O_CREAT makes no volume; the first ftruncate does, of that size, and a writer attaches it here
// asking the primary to move; the last release detaches.
TEST_F(PoolFsTest, FirstTruncateCreatesTheVolumeAndWritersAttachHere) {
  uint64_t ino = create("v1");
  EXPECT_TRUE(api_.volumes.empty());
  EXPECT_EQ(truncate(ino, 8192), 0);
  ASSERT_EQ(api_.volumes.count("v1"), 1u);
  EXPECT_EQ(api_.volumes["v1"].size_bytes, 8192u);
  EXPECT_EQ(api_.attaches, (std::vector<std::string>{"v1@n1+move"}));
  EXPECT_EQ(endpoints_.back(), "nbd+unix:///v1?socket=/run/n1.sock");
  EXPECT_EQ(fs_.write(ino, "abcd", 4, 512), 0);
  size_t got = 0;
  char back[4];
  EXPECT_EQ(fs_.read(ino, back, 4, 512, &got), 0);
  EXPECT_EQ(std::string(back, got), "abcd");
  EXPECT_EQ(fs_.write(ino, "x", 1, 8192), ENOSPC) << "files grow by ftruncate only";
  fs_.release(ino, O_RDWR);
  EXPECT_EQ(api_.detaches, (std::vector<std::string>{"v1@n1"}));
  struct stat st;
  ASSERT_EQ(fs_.getattr(ino, &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_EQ(st.st_uid, 10u);
  EXPECT_EQ(attrs_.get("uuid-v1", FileAttrs{}), (FileAttrs{0640, 10, 20})) << "kept once the volume exists";
}

// Larger grows, smaller (but 0) and unaligned sizes are refused, 0 then the size zeroes the data.
TEST_F(PoolFsTest, TruncateGrowsRefusesShrinkAndWipes) {
  uint64_t ino = create("v1");
  ASSERT_EQ(truncate(ino, 8192), 0);
  ASSERT_EQ(fs_.write(ino, "data", 4, 0), 0);
  EXPECT_EQ(truncate(ino, 4096), EINVAL);
  EXPECT_EQ(truncate(ino, 10000), EINVAL);
  EXPECT_EQ(truncate(ino, 16384), 0);
  EXPECT_EQ(api_.volumes["v1"].size_bytes, 16384u);
  EXPECT_EQ(truncate(ino, 0), 0);
  EXPECT_EQ(size(ino), 0u);
  EXPECT_EQ(api_.volumes["v1"].size_bytes, 16384u) << "the volume stays";
  EXPECT_EQ(truncate(ino, 16384), 0);
  EXPECT_EQ(size(ino), 16384u);
  EXPECT_EQ(std::string(data_["v1"].data(), 4), std::string(4, '\0'));
  EXPECT_EQ(fs_.fallocate(ino, 0, 0, 20000), 0) << "allocation past the end grows";
  EXPECT_EQ(api_.volumes["v1"].size_bytes, 20480u);
  EXPECT_EQ(fs_.fallocate(ino, FALLOC_FL_COLLAPSE_RANGE, 0, 4096), EOPNOTSUPP);
  fs_.release(ino, O_RDWR);
}

// unlink deletes the volume, but not while it is open here or attached on another host.
TEST_F(PoolFsTest, UnlinkRefusedWhileInUse) {
  uint64_t ino = create("v1");
  ASSERT_EQ(truncate(ino, 4096), 0);
  EXPECT_EQ(fs_.unlink(PoolFs::kVolumesIno, "v1"), EBUSY);
  fs_.release(ino, O_RDWR);
  api_.volumes["v1"].attached_hosts = {"n2"};
  EXPECT_EQ(fs_.unlink(PoolFs::kVolumesIno, "v1"), EBUSY);
  api_.volumes["v1"].attached_hosts.clear();
  EXPECT_EQ(fs_.unlink(PoolFs::kVolumesIno, "v1"), 0);
  EXPECT_TRUE(api_.volumes.empty());
  EXPECT_EQ(fs_.unlink(PoolFs::kVolumesIno, "v1"), ENOENT);
}

// Names follow the volume-name rule; only volumes/ holds files.
TEST_F(PoolFsTest, NamesAreVolumeNames) {
  struct stat st;
  EXPECT_EQ(fs_.create(PoolFs::kVolumesIno, "-x", 0600, 0, 0, O_RDWR, &st), EINVAL);
  EXPECT_EQ(fs_.create(PoolFs::kVolumesIno, std::string(65, 'v'), 0600, 0, 0, O_RDWR, &st), ENAMETOOLONG);
  EXPECT_EQ(fs_.create(PoolFs::kRootIno, "v", 0600, 0, 0, O_RDWR, &st), EACCES);
  uint64_t ino = create("v.1_a-b");
  EXPECT_EQ(fs_.create(PoolFs::kVolumesIno, "v.1_a-b", 0600, 0, 0, O_RDWR, &st), EEXIST);
  fs_.release(ino, O_RDWR);
}

// A read-only open connects to the primary's export and attaches nothing; the listing is the
// group's only.
TEST_F(PoolFsTest, ReadOnlyOpenDoesNotAttach) {
  ASSERT_TRUE(api_.createVolume("v1", "g", 4096).isOk());
  ASSERT_TRUE(api_.createVolume("other", "h", 4096).isOk());
  std::vector<DirEntry> entries;
  ASSERT_EQ(fs_.readdir(PoolFs::kVolumesIno, &entries), 0);
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[2].name, "v1");
  ASSERT_EQ(fs_.open(entries[2].ino, O_RDONLY), 0);
  EXPECT_TRUE(api_.attaches.empty());
  EXPECT_EQ(endpoints_.back(), "nbd://10.0.0.2:10809/v1");
  fs_.release(entries[2].ino, O_RDONLY);
}

// statfs: the group's online pools (by name), summed and divided by its replica count.
TEST_F(PoolFsTest, StatfsIsTheGroupsCapacity) {
  struct statvfs st;
  ASSERT_EQ(fs_.statfs(&st), 0);
  EXPECT_EQ(st.f_blocks * st.f_frsize, (16u << 20) / 2);
  EXPECT_EQ(st.f_bavail * st.f_frsize, (6u << 20) / 2);
}

}  // namespace
}  // namespace tandem::poolfs
