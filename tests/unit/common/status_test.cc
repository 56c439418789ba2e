#include "tandem/common/status.h"

#include <cerrno>

#include <gtest/gtest.h>

namespace tandem {
namespace {

Result<int> parsePositive(int v) {
  if (v <= 0) return Status(ErrorCode::kInvalidArgument, "not positive");
  return v;
}

Result<int> doubled(int v) {
  ASSIGN_OR_RETURN(int x, parsePositive(v));
  return x * 2;
}

// errno values map to the error codes callers branch on, and keep the context.
TEST(Status, FromErrnoMapsCodesAndKeepsContext) {
  Status s = Status::fromErrno(ENOSPC, "pwrite /x");
  EXPECT_EQ(s.code(), ErrorCode::kNoSpace);
  EXPECT_EQ(s.sysErrno(), ENOSPC);
  EXPECT_NE(s.message().find("pwrite /x"), std::string::npos);
  EXPECT_EQ(Status::fromErrno(ENOENT, "open").code(), ErrorCode::kNotFound);
  EXPECT_EQ(Status::fromErrno(EIO, "read").code(), ErrorCode::kIo);
}

// ASSIGN_OR_RETURN propagates the first error and unwraps values.
TEST(Status, AssignOrReturnPropagates) {
  EXPECT_EQ(doubled(4).value(), 8);
  Result<int> bad = doubled(-1);
  ASSERT_FALSE(bad.isOk());
  EXPECT_EQ(bad.status().code(), ErrorCode::kInvalidArgument);
}

TEST(Status, WithContextPrefixes) {
  Status s = Status(ErrorCode::kNotFound, "no such file").withContext("open volume v1");
  EXPECT_EQ(s.message(), "open volume v1: no such file");
  EXPECT_TRUE(Status::ok().withContext("x").isOk());
}

}  // namespace
}  // namespace tandem
