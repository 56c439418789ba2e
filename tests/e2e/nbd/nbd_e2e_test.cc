// End-to-end tests of the NBD server with the real clients installed here: qemu-io,
// qemu-img and nbdinfo (script/deps installs qemu-utils and libnbd-bin). The server runs
// in-process on a FileBlockDevice over a fresh temp file; one test runs tandem-nbd-serve.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>

#include "backing_file.h"
#include "process_runner.h"
#include "tandem/devices/file_block_device.h"
#include "tandem/nbd/nbd_server.h"
#include "tandem/nbd/static_export_registry.h"

namespace tandem::nbd {
namespace {

using e2e::BackgroundProcess;
using e2e::CountingDevice;
using e2e::readFileRange;
using e2e::CommandResult;
using e2e::findOnPath;
using e2e::runCommand;

constexpr uint64_t kVolumeSize = 64ull << 20;

std::string readWholeFile(const std::string& path) { return readFileRange(path, 0, std::filesystem::file_size(path)); }

void createSparseFile(const std::string& path, uint64_t size) {
  std::ofstream(path, std::ios::binary).close();
  std::filesystem::resize_file(path, size);
}

class NbdE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* tool : {"qemu-io", "qemu-img", "nbdinfo"}) {
      ASSERT_FALSE(findOnPath(tool).empty())
          << tool << " is not on PATH; run script/deps (it installs qemu-utils and libnbd-bin)";
    }
    char tmpl[] = "/tmp/tandem-nbd-e2e-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    backing_ = dir_ + "/volume.img";
    createSparseFile(backing_, kVolumeSize);
    auto file = devices::FileBlockDevice::open(backing_);
    ASSERT_TRUE(file.isOk()) << file.status().toString();
    device_ = std::make_shared<CountingDevice>(std::move(file).value());
    registry_.add("vol", device_);
    ServerOptions options;
    options.unix_socket_path = socketPath();
    auto server = NbdServer::start(options, registry_);
    ASSERT_TRUE(server.isOk()) << server.status().toString();
    server_ = std::move(server).value();
  }
  void TearDown() override {
    if (server_) server_->stop();
    std::filesystem::remove_all(dir_);
  }

  std::string socketPath() const { return dir_ + "/nbd.sock"; }
  std::string uri() const { return "nbd://127.0.0.1:" + std::to_string(server_->tcpPort()) + "/vol"; }

  // Runs a command and expects exit code 0; returns its output.
  std::string runOk(const std::vector<std::string>& argv) {
    auto result = runCommand(argv, dir_);
    EXPECT_TRUE(result.isOk()) << result.status().toString();
    if (!result.isOk()) return {};
    EXPECT_EQ(result->exit_code, 0) << argv[0] << " failed:\n" << result->output;
    return result->output;
  }

  std::string dir_;
  std::string backing_;
  std::shared_ptr<CountingDevice> device_;
  StaticExportRegistry registry_;
  std::unique_ptr<NbdServer> server_;
};

// qemu-io writes a pattern and reads it back; the bytes land in the backing file. QEMU
// negotiates structured replies and base:allocation.
TEST_F(NbdE2eTest, QemuIoWritesAndReadsBackThroughTheExport) {
  std::string out = runOk({"qemu-io", "-f", "raw", uri(), "-c", "write -P 0xab 0 1M", "-c", "read -P 0xab 0 1M"});
  EXPECT_EQ(out.find("Pattern verification failed"), std::string::npos) << out;
  EXPECT_EQ(readFileRange(backing_, 0, 1 << 20), std::string(1 << 20, '\xab'));
  EXPECT_EQ(readFileRange(backing_, 1 << 20, 4096), std::string(4096, '\0'));
}

// qemu-io's default cache mode sends writes with FUA; the device sees FUA writes.
TEST_F(NbdE2eTest, QemuIoDefaultCacheModeSendsFuaWrites) {
  runOk({"qemu-io", "-f", "raw", uri(), "-c", "write -P 0x11 4096 64k"});
  EXPECT_GT(device_->fua_writes, 0);
  EXPECT_EQ(readFileRange(backing_, 4096, 65536), std::string(65536, '\x11'));
}

// With -t writeback, qemu-io sends plain writes and an explicit FLUSH.
TEST_F(NbdE2eTest, QemuIoWritebackSendsPlainWritesAndFlush) {
  runOk({"qemu-io", "-t", "writeback", "-f", "raw", uri(), "-c", "write -P 0xcd 8M 1M", "-c", "flush", "-c",
         "read -P 0xcd 8M 1M"});
  EXPECT_EQ(device_->fua_writes, 0);
  EXPECT_GT(device_->plain_writes, 0);
  EXPECT_GT(device_->flushes, 0);
  EXPECT_EQ(readFileRange(backing_, 8 << 20, 1 << 20), std::string(1 << 20, '\xcd'));
}

// `write -z` becomes WRITE_ZEROES with NO_HOLE (written as zero buffers, never deallocated),
// `write -z -u` WRITE_ZEROES the device may deallocate, `discard` TRIM; all read as zeroes.
TEST_F(NbdE2eTest, QemuIoWriteZeroesAndDiscardZeroTheRanges) {
  runOk({"qemu-io", "-f", "raw", uri(), "-c", "write -P 0xff 0 3M"});
  runOk({"qemu-io", "-f", "raw", uri(), "-c", "write -z 0 1M"});
  EXPECT_EQ(device_->write_zeroes, 0);  // NO_HOLE: zero buffers through write()
  runOk({"qemu-io", "-f", "raw", uri(), "-c", "write -z -u 1M 1M", "-c", "discard 2M 1M", "-c", "read -P 0 0 3M"});
  EXPECT_GT(device_->write_zeroes, 0);
  EXPECT_GT(device_->trims, 0);
  EXPECT_EQ(readFileRange(backing_, 0, 3 << 20), std::string(3 << 20, '\0'));
}

// qemu-img info sees a raw image of the export's size.
TEST_F(NbdE2eTest, QemuImgInfoReportsTheExportSize) {
  std::string out = runOk({"qemu-img", "info", uri()});
  EXPECT_NE(out.find("virtual size: 64 MiB (67108864 bytes)"), std::string::npos) << out;
}

// qemu-img convert copies a file into the export and the export back out to a file.
TEST_F(NbdE2eTest, QemuImgConvertCopiesIntoAndOutOfTheExport) {
  std::string source = dir_ + "/source.raw";
  {
    std::ofstream out(source, std::ios::binary);
    for (int i = 0; i < (4 << 20); ++i) out.put(static_cast<char>((i * 31 + 7) & 0xff));
  }
  runOk({"qemu-img", "convert", "-n", "-f", "raw", "-O", "raw", source, uri()});
  EXPECT_EQ(readFileRange(backing_, 0, 4 << 20), readWholeFile(source));

  std::string copy = dir_ + "/copy.raw";
  runOk({"qemu-img", "convert", "-f", "raw", "-O", "raw", uri(), copy});
  EXPECT_EQ(std::filesystem::file_size(copy), kVolumeSize);
  EXPECT_EQ(readWholeFile(copy), readWholeFile(backing_));
}

// nbdinfo --list shows the export with its size, flags and block sizes, over structured replies.
TEST_F(NbdE2eTest, NbdinfoListShowsTheExport) {
  std::string out =
      runOk({"nbdinfo", "--list", "nbd://127.0.0.1:" + std::to_string(server_->tcpPort())});
  EXPECT_NE(out.find("export=\"vol\""), std::string::npos) << out;
  EXPECT_NE(out.find("export-size: 67108864"), std::string::npos) << out;
  EXPECT_NE(out.find("using structured packets"), std::string::npos) << out;
  EXPECT_NE(out.find("base:allocation"), std::string::npos) << out;
  EXPECT_NE(out.find("can_fua: true"), std::string::npos) << out;
  EXPECT_NE(out.find("can_trim: true"), std::string::npos) << out;
  EXPECT_NE(out.find("can_zero: true"), std::string::npos) << out;
  EXPECT_NE(out.find("block_size_minimum: 1"), std::string::npos) << out;
}

// nbdinfo --map (BLOCK_STATUS on base:allocation) shows the backing file's holes and data.
TEST_F(NbdE2eTest, NbdinfoMapShowsTheHolesOfTheBackingFile) {
  runOk({"qemu-io", "-f", "raw", "-c", "write -P 0x5a 4M 1M", uri()});
  std::string raw = runOk({"nbdinfo", "--map", uri()});
  // "offset length type description" per extent, spaces collapsed: a hole, the 1 MiB written, a
  // hole to the end.
  std::string out;
  for (char c : raw) {
    if (c != ' ' || (!out.empty() && out.back() != ' ' && out.back() != '\n')) out += c;
  }
  EXPECT_NE(out.find("0 4194304 3 hole,zero\n"), std::string::npos) << raw;
  EXPECT_NE(out.find("4194304 1048576 0 data\n"), std::string::npos) << raw;
  EXPECT_NE(out.find("5242880 61865984 3 hole,zero\n"), std::string::npos) << raw;
}

// nbdinfo reaches the export over the UNIX socket.
TEST_F(NbdE2eTest, NbdinfoWorksOverTheUnixSocket) {
  std::string out = runOk({"nbdinfo", "nbd+unix:///vol?socket=" + socketPath()});
  EXPECT_NE(out.find("export-size: 67108864"), std::string::npos) << out;
  EXPECT_NE(out.find("block_size_maximum: 33554432"), std::string::npos) << out;
}

// qemu-io reads and writes over the UNIX socket too.
TEST_F(NbdE2eTest, QemuIoWorksOverTheUnixSocket) {
  runOk({"qemu-io", "-f", "raw", "nbd+unix:///vol?socket=" + socketPath(), "-c", "write -P 0x42 12M 256k", "-c",
         "read -P 0x42 12M 256k"});
  EXPECT_EQ(readFileRange(backing_, 12 << 20, 256 << 10), std::string(256 << 10, '\x42'));
}

// An unknown export makes nbdinfo fail (GO answered NBD_REP_ERR_UNKNOWN).
TEST_F(NbdE2eTest, NbdinfoFailsOnAnUnknownExport) {
  auto result = runCommand({"nbdinfo", "nbd://127.0.0.1:" + std::to_string(server_->tcpPort()) + "/nope"}, dir_);
  ASSERT_TRUE(result.isOk());
  EXPECT_NE(result->exit_code, 0) << result->output;
  EXPECT_NE(result->output.find("nope"), std::string::npos) << result->output;
}

#ifdef TANDEM_NBD_SERVE_PATH
// tandem-nbd-serve serves a file to qemu-io and exits cleanly on SIGTERM.
TEST_F(NbdE2eTest, TandemNbdServeServesAFileUntilSigterm) {
  std::string file = dir_ + "/served.img";
  createSparseFile(file, 4 << 20);
  auto child = BackgroundProcess::start({TANDEM_NBD_SERVE_PATH, "--file", file, "--export", "served", "--port", "0"});
  ASSERT_TRUE(child.isOk()) << child.status().toString();
  auto port_line = (*child)->waitForLine("port ", std::chrono::seconds(30));
  ASSERT_TRUE(port_line.isOk()) << port_line.status().toString();
  ASSERT_TRUE((*child)->waitForLine("ready", std::chrono::seconds(30)).isOk());
  std::string port = port_line->substr(5);
  runOk({"qemu-io", "-f", "raw", "nbd://127.0.0.1:" + port + "/served", "-c", "write -P 0x5a 1M 64k"});
  auto exit_code = (*child)->stop(SIGTERM, std::chrono::seconds(30));
  ASSERT_TRUE(exit_code.isOk()) << exit_code.status().toString();
  EXPECT_EQ(*exit_code, 0);
  EXPECT_EQ(readFileRange(file, 1 << 20, 65536), std::string(65536, '\x5a'));
}
#endif

}  // namespace
}  // namespace tandem::nbd
