// End-to-end tests of LocalDeviceManager with the FUSE + loop backend: real tandem-disk-fuse
// processes, loop devices, mkfs.ext4 and mount, against tandem-nbd-serve (or an in-process NBD
// server where a test counts FLUSH). Every test checks in its teardown that it left no mount,
// loop device or tandem-disk-fuse process behind (then removes any, so later tests start clean).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "backing_file.h"
#include "process_runner.h"
#include "tandem/attach/local_device_manager.h"
#include "tandem/devices/file_block_device.h"
#include "tandem/nbd/nbd_server.h"
#include "tandem/nbd/static_export_registry.h"

namespace tandem::attach {
namespace {

namespace fs = std::filesystem;
using nbd::e2e::BackgroundProcess;
using nbd::e2e::CountingDevice;
using nbd::e2e::readFileRange;
using nbd::e2e::findOnPath;
using nbd::e2e::runCommand;

constexpr uint64_t kVolumeSize = 64ull << 20;
constexpr size_t kBlock = 4096;

// A page-aligned buffer for O_DIRECT I/O.
struct AlignedBlock {
  AlignedBlock() { data = static_cast<char*>(std::aligned_alloc(kBlock, kBlock)); }
  ~AlignedBlock() { std::free(data); }
  char* data;
};

// Polls `done` until it returns true or `timeout` passes (a condition with a deadline).
template <typename F>
bool waitFor(F done, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

class AttachE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0 || ::access("/dev/fuse", R_OK | W_OK) != 0 ||
        ::access("/dev/loop-control", F_OK) != 0) {
      GTEST_SKIP() << "needs root, /dev/fuse and loop devices";
    }
    for (const char* tool : {"losetup", "mkfs.ext4", "mount", "umount", "blkdiscard"}) {
      ASSERT_FALSE(findOnPath(tool).empty()) << tool << " is not on PATH (script/deps test)";
    }
    char tmpl[] = "/tmp/tandem-attach-e2e-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    backing_ = dir_ + "/volume.img";
    std::ofstream(backing_).close();
    fs::resize_file(backing_, kVolumeSize);
    fs::create_directories(fsMount());
    ASSERT_NO_FATAL_FAILURE(startServer());
    manager_ = newManager();
    ASSERT_NE(manager_, nullptr);
  }

  void TearDown() override {
    if (dir_.empty()) return;
    manager_.reset();
    // What the test left behind (after giving a forced detach's deferred loop teardown a moment).
    waitFor([&] { return leftoverLoops().empty(); }, std::chrono::seconds(5));
    auto mounts = leftoverMounts();
    auto loops = leftoverLoops();
    auto pids = leftoverServers();
    EXPECT_TRUE(mounts.empty()) << "mount left behind: " << mounts.front();
    EXPECT_TRUE(loops.empty()) << "loop device left behind: " << loops.front();
    EXPECT_TRUE(pids.empty()) << "tandem-disk-fuse left behind: pid " << pids.front();
    // Clean up anyway so one failure does not spoil the following tests.
    for (const auto& m : mounts) (void)runCommand({"umount", "--lazy", m}, "/tmp");
    for (const auto& l : loops) (void)runCommand({"losetup", "--detach", l}, "/tmp");
    for (int pid : pids) ::kill(pid, SIGKILL);
    for (const auto& m : leftoverMounts()) (void)runCommand({"umount", "--lazy", m}, "/tmp");
    server_.reset();
    if (in_process_server_) in_process_server_->stop();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::unique_ptr<LocalDeviceManager> newManager() {
    LocalDeviceOptions options;
    options.io_wait = io_wait_;
    options.link_root = dir_ + "/dev-tandem";
    options.state_dir = dir_ + "/state";
    options.disk_fuse_program = TANDEM_DISK_FUSE_PATH;
    auto manager = createLocalDeviceManager(
        options, detectHostCapabilities(),
        std::make_shared<devices::SubprocessCommandRunner>(std::chrono::seconds(60)));
    EXPECT_TRUE(manager.isOk()) << manager.status().toString();
    return manager.isOk() ? std::move(manager).value() : nullptr;
  }

  void startServer() {
    auto child = BackgroundProcess::start(
        {TANDEM_NBD_SERVE_PATH, "--file", backing_, "--export", "vol", "--port", "0"});
    ASSERT_TRUE(child.isOk()) << child.status().toString();
    server_ = std::move(child).value();
    auto port_line = server_->waitForLine("port ", std::chrono::seconds(10));
    ASSERT_TRUE(port_line.isOk()) << port_line.status().toString();
    port_ = static_cast<uint16_t>(std::stoi(port_line->substr(5)));
    ASSERT_TRUE(server_->waitForLine("ready", std::chrono::seconds(10)).isOk());
  }

  AttachSpec spec() const {
    return AttachSpec{"vol", NbdEndpoint::tcp("127.0.0.1", port_, "vol"), kVolumeSize, kVolumeUuid};
  }
  static constexpr const char* kVolumeUuid = "6f1c1d2e-8f5b-4c8e-9f0e-2a7d3b4c5d6e";
  std::string fsMount() const { return dir_ + "/fs"; }
  std::string stablePath() const { return dir_ + "/dev-tandem/vol"; }

  AttachedDevice attachOk(const AttachSpec& s) {
    auto attached = manager_->attach(s);
    EXPECT_TRUE(attached.isOk()) << attached.status().toString();
    return attached.isOk() ? *attached : AttachedDevice{};
  }

  void run(const std::vector<std::string>& argv) {
    auto result = runCommand(argv, dir_);
    ASSERT_TRUE(result.isOk()) << result.status().toString();
    ASSERT_EQ(result->exit_code, 0) << argv[0] << ":\n" << result->output;
  }

  // Mount points under the test dir.
  std::vector<std::string> leftoverMounts() const {
    std::vector<std::string> out;
    std::ifstream in("/proc/self/mountinfo");
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string f[5];
      for (auto& x : f) fields >> x;
      if (f[4].rfind(dir_ + "/", 0) == 0) out.push_back(f[4]);
    }
    return out;
  }
  // Loop devices bound to a file under the test dir.
  std::vector<std::string> leftoverLoops() const {
    std::vector<std::string> out;
    auto result = runCommand({"losetup", "--list", "--noheadings", "--output", "NAME,BACK-FILE"}, "/tmp");
    if (!result.isOk()) return out;
    std::istringstream lines(result->output);
    std::string name, file;
    while (lines >> name >> file) {
      if (file.rfind(dir_ + "/", 0) == 0) out.push_back(name);
    }
    return out;
  }
  // tandem-disk-fuse processes serving a directory under the test dir.
  std::vector<int> leftoverServers() const {
    std::vector<int> out;
    std::error_code ec;
    for (const auto& p : fs::directory_iterator("/proc", ec)) {
      std::string pid = p.path().filename();
      if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
      std::ifstream in(p.path() / "cmdline", std::ios::binary);
      std::string cmdline((std::istreambuf_iterator<char>(in)), {});
      if (cmdline.find("tandem-disk-fuse") != std::string::npos &&
          cmdline.find(dir_ + "/") != std::string::npos) {
        out.push_back(std::stoi(pid));
      }
    }
    return out;
  }

  std::string dir_, backing_;
  // Short, so that the tests of a lost server see EIO soon; the handover test sets a long one.
  std::chrono::milliseconds io_wait_{1000};
  uint16_t port_ = 0;
  std::unique_ptr<BackgroundProcess> server_;
  std::unique_ptr<nbd::NbdServer> in_process_server_;
  std::unique_ptr<LocalDeviceManager> manager_;
};

// The whole life of a device: attach, mkfs.ext4 on the stable path, mount, write, sync,
// umount, detach; the bytes are in the served file; attaching again reads them back.
TEST_F(AttachE2eTest, FileSystemOnTheStablePathSurvivesDetachAndReattach) {
  AttachedDevice attached = attachOk(spec());
  EXPECT_EQ(attached.stable_path, stablePath());
  EXPECT_EQ(fs::read_symlink(stablePath()), attached.device_path);
  EXPECT_TRUE(attached.device_path.starts_with("/dev/loop"));
  ASSERT_NO_FATAL_FAILURE(run({"mkfs.ext4", "-q", "-F", stablePath()}));
  ASSERT_NO_FATAL_FAILURE(run({"mount", stablePath(), fsMount()}));
  std::string marker = "tandem-attach-marker-" + std::to_string(::getpid());
  std::string content;
  for (int i = 0; i < 2000; ++i) content += marker + "-" + std::to_string(i) + "\n";
  std::ofstream(fsMount() + "/file.txt") << content;
  ASSERT_NO_FATAL_FAILURE(run({"sync"}));
  ASSERT_NO_FATAL_FAILURE(run({"umount", fsMount()}));
  ASSERT_TRUE(manager_->detach("vol", false).isOk());
  EXPECT_FALSE(fs::exists(fs::symlink_status(stablePath())));

  std::string served = readFileRange(backing_, 0, kVolumeSize);
  EXPECT_NE(served.find(marker + "-1999\n"), std::string::npos)
      << "the file's bytes are not in the served file";

  attachOk(spec());
  ASSERT_NO_FATAL_FAILURE(run({"mount", stablePath(), fsMount()}));
  std::ifstream in(fsMount() + "/file.txt");
  std::string read_back((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(read_back, content);
  in.close();
  ASSERT_NO_FATAL_FAILURE(run({"umount", fsMount()}));
  EXPECT_TRUE(manager_->detach("vol", false).isOk());
}

// Attaching a volume twice gives the same device, one loop device and one server process.
TEST_F(AttachE2eTest, AttachIsIdempotent) {
  AttachedDevice first = attachOk(spec());
  AttachedDevice second = attachOk(spec());
  EXPECT_EQ(first.device_path, second.device_path);
  EXPECT_EQ(leftoverLoops().size(), 1u);
  EXPECT_EQ(leftoverServers().size(), 1u);
  auto listed = manager_->list();
  ASSERT_TRUE(listed.isOk());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].health, AttachmentHealth::kHealthy) << (*listed)[0].detail;
  EXPECT_TRUE(manager_->detach("vol", false).isOk());
  EXPECT_TRUE(manager_->detach("vol", false).isOk()) << "detaching twice is not an error";
}

// Detach refuses with device_busy while the device is mounted, even forced; once unmounted, a
// process that merely holds it open blocks a plain detach but not a forced one, after which
// that process's I/O fails with EIO.
TEST_F(AttachE2eTest, DetachRefusesWhileMountedAndForceOnlyOverridesOpeners) {
  attachOk(spec());
  ASSERT_NO_FATAL_FAILURE(run({"mkfs.ext4", "-q", "-F", stablePath()}));
  ASSERT_NO_FATAL_FAILURE(run({"mount", stablePath(), fsMount()}));
  for (bool force : {false, true}) {
    Status s = manager_->detach("vol", force);
    EXPECT_EQ(s.code(), ErrorCode::kConflict) << "force=" << force;
    EXPECT_EQ(s.reason(), kReasonDeviceBusy) << s.toString();
    EXPECT_NE(s.message().find("mounted on " + fsMount()), std::string::npos) << s.message();
  }
  EXPECT_TRUE(fs::exists(stablePath()));
  ASSERT_NO_FATAL_FAILURE(run({"umount", fsMount()}));

  int fd = ::open(stablePath().c_str(), O_RDWR | O_DIRECT | O_CLOEXEC);
  ASSERT_GE(fd, 0) << std::strerror(errno);
  Status s = manager_->detach("vol", false);
  EXPECT_EQ(s.reason(), kReasonDeviceBusy) << s.toString();
  EXPECT_NE(s.message().find("open by pid"), std::string::npos) << s.message();
  EXPECT_TRUE(manager_->detach("vol", true).isOk());
  EXPECT_FALSE(fs::exists(fs::symlink_status(stablePath())));
  AlignedBlock block;
  std::memset(block.data, 0x5a, kBlock);
  errno = 0;
  EXPECT_EQ(::pwrite(fd, block.data, kBlock, 0), -1) << "a write after a forced detach must fail";
  EXPECT_EQ(errno, EIO);
  ::close(fd);
}

// A new manager (a restarted node worker) adopts the attachment: same device, no second loop
// device or server process; its attach() is idempotent too.
TEST_F(AttachE2eTest, RestartedManagerAdoptsWithoutDuplicates) {
  AttachedDevice attached = attachOk(spec());
  int server_pid = leftoverServers().at(0);
  fs::remove(stablePath());  // also recreated by adopt()
  manager_.reset();
  // The device keeps working with no manager at all (the node worker is down).
  ASSERT_NO_FATAL_FAILURE(
      run({"dd", "if=/dev/urandom", "of=" + attached.device_path, "bs=64K", "count=4", "oflag=direct"}));
  manager_ = newManager();
  auto report = manager_->adopt();
  ASSERT_TRUE(report.isOk()) << report.status().toString();
  EXPECT_TRUE(report->cleaned.empty());
  ASSERT_EQ(report->attachments.size(), 1u);
  EXPECT_EQ(report->attachments[0].device_path, attached.device_path);
  EXPECT_EQ(report->attachments[0].server_pid, server_pid);
  EXPECT_EQ(report->attachments[0].health, AttachmentHealth::kHealthy);
  EXPECT_EQ(report->attachments[0].volume_uuid, kVolumeUuid) << "the uuid is kept on the host";
  EXPECT_EQ(fs::read_symlink(stablePath()), attached.device_path);
  EXPECT_EQ(attachOk(spec()).device_path, attached.device_path);
  AttachSpec other_volume = spec();
  other_volume.volume_uuid = "00000000-0000-4000-8000-000000000001";  // deleted, then created again
  auto refused = manager_->attach(other_volume);
  EXPECT_EQ(refused.status().reason(), kReasonDeviceBusy)
      << "a device of an earlier volume of the same name is never pointed at a new one";
  EXPECT_EQ(leftoverLoops().size(), 1u);
  EXPECT_EQ(leftoverServers(), std::vector<int>{server_pid});
  EXPECT_TRUE(manager_->detach("vol", false).isOk());
}

// kill -9 of the NBD server: once the I/O wait has passed, writes fail with EIO (never silently
// accepted); after a retarget to a server on a new port, I/O resumes on the same stable path and
// device.
TEST_F(AttachE2eTest, ServerKilledWritesFailWithEioThenRetargetResumes) {
  AttachedDevice attached = attachOk(spec());
  int fd = ::open(stablePath().c_str(), O_RDWR | O_DIRECT | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  AlignedBlock block;
  std::memset(block.data, 0x11, kBlock);
  ASSERT_EQ(::pwrite(fd, block.data, kBlock, 0), static_cast<ssize_t>(kBlock));

  ASSERT_TRUE(server_->stop(SIGKILL, std::chrono::seconds(10)).isOk());
  std::memset(block.data, 0x22, kBlock);
  errno = 0;
  EXPECT_EQ(::pwrite(fd, block.data, kBlock, kBlock), -1);
  EXPECT_EQ(errno, EIO);
  errno = 0;
  EXPECT_EQ(::pread(fd, block.data, kBlock, 0), -1);
  EXPECT_EQ(errno, EIO);
  // A buffered write is accepted into the page cache, but its fsync must fail.
  int buffered = ::open(stablePath().c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(buffered, 0);
  std::string lost(kBlock, '\x44');
  ASSERT_EQ(::pwrite(buffered, lost.data(), lost.size(), 4 * kBlock), static_cast<ssize_t>(kBlock));
  errno = 0;
  EXPECT_EQ(::fsync(buffered), -1) << "fsync acknowledged a write that never reached the server";
  EXPECT_EQ(errno, EIO);
  ::close(buffered);
  auto listed = manager_->list();
  ASSERT_TRUE(listed.isOk());
  EXPECT_EQ(listed->at(0).health, AttachmentHealth::kDisconnected);

  ASSERT_NO_FATAL_FAILURE(startServer());
  Status retargeted = manager_->retarget("vol", NbdEndpoint::tcp("127.0.0.1", port_, "vol"));
  ASSERT_TRUE(retargeted.isOk()) << retargeted.toString();
  std::memset(block.data, 0x33, kBlock);
  ASSERT_EQ(::pwrite(fd, block.data, kBlock, kBlock), static_cast<ssize_t>(kBlock)) << std::strerror(errno);
  // The lost buffered write is reported once to every descriptor open when it was lost.
  EXPECT_EQ(::fsync(fd), -1);
  ASSERT_EQ(::fsync(fd), 0) << std::strerror(errno);
  EXPECT_EQ(readFileRange(backing_, kBlock, kBlock), std::string(kBlock, '\x33'));
  EXPECT_EQ(readFileRange(backing_, 0, kBlock), std::string(kBlock, '\x11'));
  ::close(fd);
  listed = manager_->list();
  ASSERT_TRUE(listed.isOk());
  EXPECT_EQ(listed->at(0).device_path, attached.device_path);
  EXPECT_EQ(listed->at(0).health, AttachmentHealth::kHealthy);
  EXPECT_EQ(listed->at(0).generation, 2u);
  Status detached = manager_->detach("vol", false);
  EXPECT_TRUE(detached.isOk()) << detached.toString();
}

// A planned handover as the device sees it: the server goes away under a pending write and a
// pending fsync, and the device is retargeted to a new server within the I/O wait. Neither
// fails: both are sent again on the new connection and complete there, with the bytes in the
// served file. (Before the wait existed both failed with EIO at once: a live migration's end
// was an I/O error in the guest.)
TEST_F(AttachE2eTest, RetargetWithinTheIoWaitCompletesPendingIo) {
  manager_.reset();
  io_wait_ = std::chrono::seconds(30);
  manager_ = newManager();
  attachOk(spec());
  int fd = ::open(stablePath().c_str(), O_RDWR | O_DIRECT | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  AlignedBlock first;
  std::memset(first.data, 0x11, kBlock);
  ASSERT_EQ(::pwrite(fd, first.data, kBlock, 0), static_cast<ssize_t>(kBlock));

  ASSERT_TRUE(server_->stop(SIGKILL, std::chrono::seconds(10)).isOk());
  std::atomic<ssize_t> written{-2};
  std::atomic<int> write_errno{0}, synced{-2};
  std::thread writer([&] {
    AlignedBlock block;
    std::memset(block.data, 0x22, kBlock);
    ssize_t n = ::pwrite(fd, block.data, kBlock, kBlock);
    write_errno = errno;
    written = n;
    synced = ::fsync(fd);
  });
  // The write is waiting for a server (the device reports it disconnected), not failed.
  bool disconnected = waitFor([&] {
    auto listed = manager_->list();
    return listed.isOk() && listed->size() == 1 && (*listed)[0].health == AttachmentHealth::kDisconnected;
  }, std::chrono::seconds(10));
  EXPECT_TRUE(disconnected);
  EXPECT_EQ(written.load(), -2) << "the write returned while no server was there (errno " << write_errno << ")";

  ASSERT_NO_FATAL_FAILURE(startServer());
  Status retargeted = manager_->retarget("vol", NbdEndpoint::tcp("127.0.0.1", port_, "vol"));
  ASSERT_TRUE(retargeted.isOk()) << retargeted.toString();
  writer.join();
  EXPECT_EQ(written.load(), static_cast<ssize_t>(kBlock)) << std::strerror(write_errno.load());
  EXPECT_EQ(synced.load(), 0);
  EXPECT_EQ(readFileRange(backing_, kBlock, kBlock), std::string(kBlock, '\x22'));
  EXPECT_EQ(readFileRange(backing_, 0, kBlock), std::string(kBlock, '\x11'));
  ::close(fd);
  EXPECT_TRUE(manager_->detach("vol", false).isOk());
}

// fsync on the device reaches the server as NBD FLUSH after the data (over a UNIX socket).
TEST_F(AttachE2eTest, FsyncReachesTheServerAsFlush) {
  auto file = devices::FileBlockDevice::open(backing_);
  ASSERT_TRUE(file.isOk());
  auto device = std::make_shared<CountingDevice>(std::move(file).value());
  nbd::StaticExportRegistry registry;
  registry.add("counted", device);
  nbd::ServerOptions options;
  options.listen_tcp = false;
  options.unix_socket_path = dir_ + "/nbd.sock";
  auto server = nbd::NbdServer::start(options, registry);
  ASSERT_TRUE(server.isOk()) << server.status().toString();
  in_process_server_ = std::move(server).value();

  attachOk(AttachSpec{"vol", NbdEndpoint::unixSocket(dir_ + "/nbd.sock", "counted"), kVolumeSize});
  int fd = ::open(stablePath().c_str(), O_RDWR | O_CLOEXEC);  // buffered: the data sits in the page cache
  ASSERT_GE(fd, 0);
  std::string data(kBlock, '\x7e');
  ASSERT_EQ(::pwrite(fd, data.data(), data.size(), 8 * kBlock), static_cast<ssize_t>(kBlock));
  int flushes_before = device->flushes.load();
  ASSERT_EQ(::fsync(fd), 0);
  EXPECT_GT(device->flushes.load(), flushes_before) << "fsync did not reach the server as FLUSH";
  EXPECT_EQ(readFileRange(backing_, 8 * kBlock, kBlock), data);
  ::close(fd);
  EXPECT_TRUE(manager_->detach("vol", false).isOk());
}

// Discard and zero-out on the device read back as zeroes from the served file.
TEST_F(AttachE2eTest, DiscardAndZeroOutReadBackAsZeroes) {
  attachOk(spec());
  ASSERT_NO_FATAL_FAILURE(
      run({"dd", "if=/dev/urandom", "of=" + stablePath(), "bs=1M", "count=2", "oflag=direct"}));
  ASSERT_NE(readFileRange(backing_, 0, 1 << 20), std::string(1 << 20, '\0'));
  ASSERT_NO_FATAL_FAILURE(run({"blkdiscard", "--offset", "0", "--length", "1048576", stablePath()}));
  ASSERT_NO_FATAL_FAILURE(
      run({"blkdiscard", "--zeroout", "--offset", "1048576", "--length", "1048576", stablePath()}));
  EXPECT_EQ(readFileRange(backing_, 0, 2 << 20), std::string(2 << 20, '\0'));
  EXPECT_TRUE(manager_->detach("vol", false).isOk());
}

// kill -9 of tandem-disk-fuse: I/O on the device fails with EIO (no corruption), and adopt()
// by a new manager reports and removes the dead attachment (device, mount, symlink).
TEST_F(AttachE2eTest, DiskServerKilledIoFailsAndAdoptCleansUp) {
  attachOk(spec());
  auto servers = leftoverServers();
  ASSERT_EQ(servers.size(), 1u);
  int fd = ::open(stablePath().c_str(), O_RDWR | O_DIRECT | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::kill(servers[0], SIGKILL), 0);
  ASSERT_TRUE(waitFor([&] { return leftoverServers().empty(); }));
  AlignedBlock block;
  std::memset(block.data, 0x44, kBlock);
  errno = 0;
  EXPECT_EQ(::pwrite(fd, block.data, kBlock, 0), -1);
  EXPECT_EQ(errno, EIO);
  ::close(fd);
  EXPECT_EQ(readFileRange(backing_, 0, kBlock), std::string(kBlock, '\0'))
      << "a failed write reached the file";

  manager_ = newManager();
  auto listed = manager_->list();
  ASSERT_TRUE(listed.isOk());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(listed->at(0).health, AttachmentHealth::kBroken);
  auto report = manager_->adopt();
  ASSERT_TRUE(report.isOk()) << report.status().toString();
  EXPECT_TRUE(report->attachments.empty());
  ASSERT_EQ(report->cleaned.size(), 1u);
  EXPECT_TRUE(report->cleaned[0].starts_with("vol: ")) << report->cleaned[0];
  EXPECT_FALSE(fs::exists(fs::symlink_status(stablePath())));
  // The volume can be attached again at once.
  attachOk(spec());
  EXPECT_TRUE(manager_->detach("vol", false).isOk());
}

// An endpoint nobody serves: attach fails with nbd_endpoint_unavailable and leaves nothing.
TEST_F(AttachE2eTest, UnreachableEndpointFailsCleanly) {
  auto attached =
      manager_->attach(AttachSpec{"vol", NbdEndpoint::unixSocket(dir_ + "/nobody.sock", "vol"), kVolumeSize});
  ASSERT_FALSE(attached.isOk());
  EXPECT_EQ(attached.status().code(), ErrorCode::kUnavailable) << attached.status().toString();
  EXPECT_EQ(attached.status().reason(), kReasonEndpointUnavailable);
  EXPECT_FALSE(fs::exists(dir_ + "/state/vol"));
}

}  // namespace
}  // namespace tandem::attach
