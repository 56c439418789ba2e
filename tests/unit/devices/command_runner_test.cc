// SubprocessCommandRunner: real child processes, captured output, exit codes and timeouts.
#include "tandem/devices/command_runner.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>

namespace tandem::devices {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

// stdout of /bin/echo is captured exactly, with exit code 0; arguments pass without a shell.
TEST(SubprocessCommandRunner, CapturesStdoutOfEcho) {
  SubprocessCommandRunner runner;
  auto out = runner.run({"/bin/echo", "hello", "$HOME; rm -rf /", "a b"});
  ASSERT_TRUE(out.isOk()) << out.status().toString();
  EXPECT_EQ(out->exit_code, 0);
  EXPECT_EQ(out->stdout_text, "hello $HOME; rm -rf / a b\n");
  EXPECT_EQ(out->stderr_text, "");
}

// stderr is captured separately and a non-zero exit code is reported, not turned into an error.
TEST(SubprocessCommandRunner, CapturesStderrAndExitCode) {
  SubprocessCommandRunner runner;
  auto out = runner.run({"/bin/sh", "-c", "echo out; echo oops >&2; exit 3"});
  ASSERT_TRUE(out.isOk()) << out.status().toString();
  EXPECT_EQ(out->exit_code, 3);
  EXPECT_EQ(out->stdout_text, "out\n");
  EXPECT_EQ(out->stderr_text, "oops\n");
}

// Large outputs on both pipes at once do not deadlock.
TEST(SubprocessCommandRunner, DrainsLargeOutputsOnBothPipes) {
  SubprocessCommandRunner runner;
  auto out = runner.run({"/bin/sh", "-c", "head -c 1000000 /dev/zero; head -c 500000 /dev/zero >&2"});
  ASSERT_TRUE(out.isOk()) << out.status().toString();
  EXPECT_EQ(out->stdout_text.size(), 1000000u);
  EXPECT_EQ(out->stderr_text.size(), 500000u);
}

// A program that does not exist is kNotFound naming the command.
TEST(SubprocessCommandRunner, MissingProgramIsNotFound) {
  SubprocessCommandRunner runner;
  auto out = runner.run({"tandem-no-such-program", "x"});
  EXPECT_EQ(out.status().code(), ErrorCode::kNotFound);
  EXPECT_THAT(out.status().message(), HasSubstr("tandem-no-such-program x"));
  EXPECT_EQ(runner.run({}).status().code(), ErrorCode::kInvalidArgument);
}

// A command past its deadline is killed and reported as kTimeout, well before it would end.
TEST(SubprocessCommandRunner, TimesOutSleep) {
  SubprocessCommandRunner runner(200ms);
  auto start = std::chrono::steady_clock::now();
  auto out = runner.run({"sleep", "30"});
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(out.status().code(), ErrorCode::kTimeout);
  EXPECT_THAT(out.status().message(), HasSubstr("sleep 30"));
  EXPECT_LT(took, 10s);
}

// A timed-out shell's own children die too (the whole process group is killed).
TEST(SubprocessCommandRunner, TimeoutKillsChildrenHoldingThePipes) {
  SubprocessCommandRunner runner(200ms);
  auto start = std::chrono::steady_clock::now();
  auto out = runner.run({"/bin/sh", "-c", "sleep 30; echo never"});
  EXPECT_EQ(out.status().code(), ErrorCode::kTimeout);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
}

// runChecked turns a non-zero exit into an error with command line, exit code and stderr.
TEST(RunChecked, NonZeroExitKeepsStderr) {
  SubprocessCommandRunner runner;
  auto out = runChecked(runner, {"/bin/sh", "-c", "echo 'Volume group \"vg9\" not found' >&2; exit 5"});
  EXPECT_EQ(out.status().code(), ErrorCode::kNotFound);
  EXPECT_THAT(out.status().message(), HasSubstr("exited 5"));
  EXPECT_THAT(out.status().message(), HasSubstr("Volume group \"vg9\" not found"));
  EXPECT_THAT(out.status().message(), HasSubstr("/bin/sh -c"));
}

// Tool messages map to error codes; unknown ones are kIo.
TEST(ClassifyToolError, MapsCommonMessages) {
  EXPECT_EQ(classifyToolError("Logical Volume \"v\" already exists in volume group \"vg\""),
            ErrorCode::kAlreadyExists);
  EXPECT_EQ(classifyToolError("cannot open 'tank/x': dataset does not exist"), ErrorCode::kNotFound);
  EXPECT_EQ(classifyToolError("cannot create 'tank/x': out of space"), ErrorCode::kNoSpace);
  EXPECT_EQ(classifyToolError("cannot destroy 'tank/x@s': snapshot has dependent clones"),
            ErrorCode::kConflict);
  EXPECT_EQ(classifyToolError("something odd"), ErrorCode::kIo);
}

}  // namespace
}  // namespace tandem::devices
