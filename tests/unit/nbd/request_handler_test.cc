// Tests of the socket-free request checks and execution (src/request_handler.*).
#include "request_handler.h"

#include <gtest/gtest.h>

#include "recording_block_device.h"

namespace tandem::nbd {
namespace {

using testing::RecordingBlockDevice;
constexpr TransmissionLimits kLimits{1 << 20, 64 * 1024};

RequestCheck::Action action(const Request& r) { return checkRequest(r, kLimits).action; }
NbdError error(const Request& r) { return checkRequest(r, kLimits).error; }

// Requests inside the device with documented flags are executed.
TEST(NbdRequestCheck, AcceptsValidRequests) {
  EXPECT_EQ(action({0, Command::kRead, 1, 0, 4096}), RequestCheck::Action::kExecute);
  EXPECT_EQ(action({kCmdFlagFua, Command::kWrite, 1, (1 << 20) - 512, 512}), RequestCheck::Action::kExecute);
  EXPECT_EQ(action({0, Command::kFlush, 1, 0, 0}), RequestCheck::Action::kExecute);
  EXPECT_EQ(action({kCmdFlagFua, Command::kTrim, 1, 0, 1 << 20}), RequestCheck::Action::kExecute);
  EXPECT_EQ(action({kCmdFlagNoHole | kCmdFlagFua, Command::kWriteZeroes, 1, 0, 1 << 20}),
            RequestCheck::Action::kExecute);
}

// Past the end: EINVAL for read/trim, ENOSPC for writes (the spec's SHOULD); no overflow.
TEST(NbdRequestCheck, RejectsRangesPastTheEnd) {
  EXPECT_EQ(error({0, Command::kRead, 1, (1 << 20) - 1, 2}), NbdError::kInval);
  EXPECT_EQ(error({0, Command::kTrim, 1, 1 << 20, 1}), NbdError::kInval);
  EXPECT_EQ(error({0, Command::kWrite, 1, ~0ull, 1}), NbdError::kNoSpc);
  EXPECT_EQ(error({0, Command::kWriteZeroes, 1, (1 << 20) + 1, 0}), NbdError::kNoSpc);
}

// Unknown commands and flags not valid for a command give EINVAL.
TEST(NbdRequestCheck, RejectsUnknownCommandsAndFlags) {
  EXPECT_EQ(error({0, Command::kBlockStatus, 1, 0, 512}), NbdError::kInval);
  EXPECT_EQ(error({0, static_cast<Command>(99), 1, 0, 0}), NbdError::kInval);
  EXPECT_EQ(error({kCmdFlagNoHole, Command::kWrite, 1, 0, 512}), NbdError::kInval);
  EXPECT_EQ(error({kCmdFlagDf, Command::kRead, 1, 0, 512}), NbdError::kInval);
  EXPECT_EQ(error({kCmdFlagFastZero, Command::kWriteZeroes, 1, 0, 512}), NbdError::kInval);
}

// An oversized read is refused with EINVAL; an oversized write ends the connection.
TEST(NbdRequestCheck, OversizedPayloadsAreRefused) {
  EXPECT_EQ(error({0, Command::kRead, 1, 0, 64 * 1024 + 1}), NbdError::kInval);
  EXPECT_EQ(action({0, Command::kWrite, 1, 0, 64 * 1024 + 1}), RequestCheck::Action::kDisconnect);
  // Trim and write-zeroes carry no payload: the limit does not apply.
  EXPECT_EQ(action({0, Command::kTrim, 1, 0, 1 << 20}), RequestCheck::Action::kExecute);
}

// WRITE_ZEROES with NO_HOLE writes zero buffers rather than asking the device to deallocate.
TEST(NbdExecuteRequest, WriteZeroesWithNoHoleWritesZeroBuffers) {
  RecordingBlockDevice device(1 << 20);
  std::vector<std::byte> ones(300000, std::byte{1});
  ASSERT_TRUE(device.write(0, ones, false).isOk());
  int writes_before = device.writes;
  EXPECT_EQ(executeRequest(device, {kCmdFlagNoHole, Command::kWriteZeroes, 1, 10, 200000}, {}, {}), NbdError::kOk);
  EXPECT_EQ(device.write_zeroes, 0);
  EXPECT_GT(device.writes, writes_before);
  auto data = device.inner().snapshot();
  EXPECT_EQ(data[9], std::byte{1});
  EXPECT_EQ(data[10], std::byte{0});
  EXPECT_EQ(data[200009], std::byte{0});
  EXPECT_EQ(data[200010], std::byte{1});
}

// WRITE_ZEROES without NO_HOLE uses the device's writeZeroes.
TEST(NbdExecuteRequest, WriteZeroesWithoutNoHoleUsesDeviceWriteZeroes) {
  RecordingBlockDevice device(1 << 20);
  EXPECT_EQ(executeRequest(device, {0, Command::kWriteZeroes, 1, 0, 4096}, {}, {}), NbdError::kOk);
  EXPECT_EQ(device.write_zeroes, 1);
}

// Device failures map to NBD errors (EIO, ENOSPC, EPERM).
TEST(NbdExecuteRequest, DeviceErrorsMapToNbdErrors) {
  RecordingBlockDevice device(1 << 20);
  std::vector<std::byte> buf(512);
  device.failWith(Status(ErrorCode::kIo, "disk on fire"));
  EXPECT_EQ(executeRequest(device, {0, Command::kRead, 1, 0, 512}, {}, buf), NbdError::kIo);
  device.failWith(Status::fromErrno(ENOSPC, "pwrite"));
  EXPECT_EQ(executeRequest(device, {0, Command::kWrite, 1, 0, 512}, buf, {}), NbdError::kNoSpc);
  device.failWith(Status::fromErrno(EPERM, "pwrite"));
  EXPECT_EQ(executeRequest(device, {0, Command::kTrim, 1, 0, 512}, {}, {}), NbdError::kPerm);
}

}  // namespace
}  // namespace tandem::nbd
