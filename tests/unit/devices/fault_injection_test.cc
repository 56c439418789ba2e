// FaultInjectingBlockDevice and FaultInjectingProvider: injected EIO/ENOSPC and crashes that
// drop exactly the writes not yet made durable.
#include "tandem/devices/fault_injection.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <thread>

#include "tandem/devices/memory_block_device.h"
#include "tandem/devices/provider_factory.h"

namespace tandem::devices {
namespace {

std::vector<std::byte> bytes(size_t n, uint8_t v) { return std::vector<std::byte>(n, std::byte{v}); }

class FaultDeviceTest : public ::testing::Test {
 protected:
  std::shared_ptr<MemoryBlockDevice> mem_ = std::make_shared<MemoryBlockDevice>(64 * 1024);
  FaultInjectingBlockDevice dev_{mem_};

  std::vector<std::byte> at(uint64_t off, size_t n) {
    std::vector<std::byte> out(n);
    EXPECT_TRUE(mem_->read(off, out).isOk());
    return out;
  }
};

// The 3rd write from now fails with kIo (errno EIO) and changes nothing; the others succeed.
TEST_F(FaultDeviceTest, NthWriteFailsWithEio) {
  dev_.faults().failNthWrite(3);
  EXPECT_TRUE(dev_.write(0, bytes(512, 1), false).isOk());
  EXPECT_TRUE(dev_.write(512, bytes(512, 2), false).isOk());
  Status s = dev_.write(1024, bytes(512, 3), false);
  EXPECT_EQ(s.code(), ErrorCode::kIo);
  EXPECT_EQ(s.sysErrno(), EIO);
  EXPECT_EQ(at(1024, 512), bytes(512, 0));
  EXPECT_TRUE(dev_.write(1024, bytes(512, 4), false).isOk());
  EXPECT_EQ(dev_.faults().injectedFaults(), 1u);
}

// The 2nd read fails with EIO; reads before and after work.
TEST_F(FaultDeviceTest, NthReadFailsWithEio) {
  dev_.faults().failNthRead(2);
  std::vector<std::byte> buf(16);
  EXPECT_TRUE(dev_.read(0, buf).isOk());
  EXPECT_EQ(dev_.read(0, buf).code(), ErrorCode::kIo);
  EXPECT_TRUE(dev_.read(0, buf).isOk());
}

// Writes succeed up to the byte budget; the one crossing it fails with kNoSpace, writes nothing,
// and the device stays full.
TEST_F(FaultDeviceTest, NoSpaceAfterNBytes) {
  dev_.faults().noSpaceAfterBytes(8192);
  EXPECT_TRUE(dev_.write(0, bytes(4096, 1), false).isOk());
  EXPECT_TRUE(dev_.write(4096, bytes(4096, 2), false).isOk());
  Status s = dev_.write(8192, bytes(4096, 3), false);
  EXPECT_EQ(s.code(), ErrorCode::kNoSpace);
  EXPECT_EQ(s.sysErrno(), ENOSPC);
  EXPECT_EQ(at(8192, 4096), bytes(4096, 0));
  EXPECT_EQ(dev_.write(8192, bytes(1, 3), false).code(), ErrorCode::kNoSpace);
  dev_.faults().clear();
  EXPECT_TRUE(dev_.write(8192, bytes(4096, 3), false).isOk());
}

// A crash drops unflushed writes but keeps flushed ones and FUA writes, even a FUA write over a
// range an unflushed write touched before.
TEST_F(FaultDeviceTest, CrashKeepsOnlyFlushedAndFuaWrites) {
  ASSERT_TRUE(dev_.write(0, bytes(4096, 0xA1), false).isOk());
  ASSERT_TRUE(dev_.flush().isOk());                                // durable
  ASSERT_TRUE(dev_.write(0, bytes(1024, 0xB2), false).isOk());     // lost
  ASSERT_TRUE(dev_.write(8192, bytes(4096, 0xC3), false).isOk());  // lost, except what FUA overwrites
  ASSERT_TRUE(dev_.write(10240, bytes(1024, 0xD4), true).isOk());  // FUA: durable
  ASSERT_TRUE(dev_.writeZeroes(0, 512, false).isOk());             // lost
  ASSERT_TRUE(dev_.write(16384, bytes(512, 0xE5), true).isOk());   // FUA: durable
  EXPECT_GT(dev_.unflushedBytes(), 0u);

  ASSERT_TRUE(dev_.crash().isOk());
  EXPECT_EQ(at(0, 4096), bytes(4096, 0xA1));
  EXPECT_EQ(at(8192, 2048), bytes(2048, 0));
  EXPECT_EQ(at(10240, 1024), bytes(1024, 0xD4));
  EXPECT_EQ(at(11264, 1024), bytes(1024, 0));
  EXPECT_EQ(at(16384, 512), bytes(512, 0xE5));
  EXPECT_EQ(dev_.unflushedBytes(), 0u);
}

// Writes after a FUA write over the same range are still dropped by a crash (back to the FUA data).
TEST_F(FaultDeviceTest, CrashAfterFuaRevertsLaterWritesToFuaData) {
  ASSERT_TRUE(dev_.write(0, bytes(100, 1), true).isOk());
  ASSERT_TRUE(dev_.write(50, bytes(100, 2), false).isOk());
  ASSERT_TRUE(dev_.crash().isOk());
  EXPECT_EQ(at(0, 100), bytes(100, 1));
  EXPECT_EQ(at(100, 50), bytes(50, 0));
}

// A failed flush (injected) leaves the writes unflushed, so a crash still drops them.
TEST_F(FaultDeviceTest, FailedFlushDoesNotMakeWritesDurable) {
  ASSERT_TRUE(dev_.write(0, bytes(10, 7), false).isOk());
  dev_.faults().failNthFlush(1);
  EXPECT_EQ(dev_.flush().code(), ErrorCode::kIo);
  ASSERT_TRUE(dev_.crash().isOk());
  EXPECT_EQ(at(0, 10), bytes(10, 0));
}

// A broken device fails every call until repaired.
TEST_F(FaultDeviceTest, BrokenDeviceFailsEverything) {
  dev_.faults().setBroken(true);
  std::vector<std::byte> buf(8);
  EXPECT_EQ(dev_.read(0, buf).code(), ErrorCode::kIo);
  EXPECT_EQ(dev_.write(0, buf, false).code(), ErrorCode::kIo);
  EXPECT_EQ(dev_.flush().code(), ErrorCode::kIo);
  dev_.faults().setBroken(false);
  EXPECT_TRUE(dev_.write(0, buf, false).isOk());
}

// With writers on several threads, exactly one of all writes fails when the Nth is armed.
TEST_F(FaultDeviceTest, NthWriteFaultFiresOnceAcrossThreads) {
  dev_.faults().failNthWrite(50);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      auto data = bytes(64, static_cast<uint8_t>(t));
      for (int i = 0; i < 40; ++i) {
        if (!dev_.write(static_cast<uint64_t>(t) * 4096 + static_cast<uint64_t>(i) * 64, data, false).isOk())
          ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 1);
  EXPECT_EQ(dev_.faults().writes(), 160u);
}

// The provider wrapper hands out fault-injecting devices sharing per-volume controls, crashes
// them on request, and can fail the next control-plane call.
TEST(FaultInjectingProvider, DevicesShareControlsAndCrash) {
  char tmpl[] = "/tmp/tandem-fip-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  PoolConfig config;
  config.provider = "file";
  config.path = dir;
  auto inner = makeProvider(config);
  ASSERT_TRUE(inner.isOk()) << inner.status().toString();
  FaultInjectingProvider provider(std::move(inner).value());
  ASSERT_TRUE(provider.create("v", 1 << 20, Provisioning::kThin).isOk());

  provider.failNextCall(Status(ErrorCode::kNoSpace, "injected: pool full"));
  EXPECT_EQ(provider.create("w", 1 << 20, Provisioning::kThin).code(), ErrorCode::kNoSpace);
  EXPECT_TRUE(provider.create("w", 1 << 20, Provisioning::kThin).isOk());

  auto dev = provider.open("v");
  ASSERT_TRUE(dev.isOk()) << dev.status().toString();
  ASSERT_TRUE((*dev)->write(0, bytes(4096, 9), false).isOk());
  ASSERT_TRUE((*dev)->flush().isOk());
  ASSERT_TRUE((*dev)->write(4096, bytes(4096, 8), false).isOk());
  ASSERT_TRUE(provider.crash("v").isOk());
  std::vector<std::byte> back(8192);
  ASSERT_TRUE((*dev)->read(0, back).isOk());
  EXPECT_EQ(std::vector<std::byte>(back.begin(), back.begin() + 4096), bytes(4096, 9));
  EXPECT_EQ(std::vector<std::byte>(back.begin() + 4096, back.end()), bytes(4096, 0));

  provider.controls("v")->failNthWrite(1);
  EXPECT_EQ((*dev)->write(0, bytes(1, 1), false).code(), ErrorCode::kIo);
  dev->reset();
  EXPECT_TRUE(provider.crash("v").isOk());  // nothing open: nothing to do
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tandem::devices
