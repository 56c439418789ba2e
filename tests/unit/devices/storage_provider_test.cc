// Volume name rules and the provider factory's validation.
#include <gtest/gtest.h>

#include "tandem/devices/provider_factory.h"

namespace tandem::devices {
namespace {

// Names are [A-Za-z0-9][A-Za-z0-9_.-]{0,127}, never "." or "..".
TEST(IsValidVolumeName, AcceptsSafeNamesOnly) {
  EXPECT_TRUE(isValidVolumeName("vol-1_a.b"));
  EXPECT_TRUE(isValidVolumeName(std::string(128, 'a')));
  EXPECT_FALSE(isValidVolumeName(std::string(129, 'a')));
  for (const char* bad : {"", ".", "..", "/x", "a/b", "-a", ".a", "_a", "a@b", "a+b", "a:b", "a b", "a\n"}) {
    EXPECT_FALSE(isValidVolumeName(bad)) << bad;
  }
}

// Unknown providers and missing or malformed settings are kInvalidArgument; a missing
// directory is kNotFound.
TEST(MakeProvider, ValidatesConfiguration) {
  PoolConfig c;
  c.provider = "ceph";
  EXPECT_EQ(makeProvider(c).status().code(), ErrorCode::kInvalidArgument);
  c.provider = "file";
  EXPECT_EQ(makeProvider(c).status().code(), ErrorCode::kInvalidArgument);
  c.path = "/nonexistent/tandem-pool";
  EXPECT_EQ(makeProvider(c).status().code(), ErrorCode::kNotFound);
  c = PoolConfig{};
  c.provider = "lvm-thin";
  c.volume_group = "vg0";
  EXPECT_EQ(makeProvider(c).status().code(), ErrorCode::kInvalidArgument);  // no thin pool
  c.thin_pool = "pool/../x";
  EXPECT_EQ(makeProvider(c).status().code(), ErrorCode::kInvalidArgument);
  c.thin_pool = "pool";
  EXPECT_TRUE(makeProvider(c).isOk());
  c = PoolConfig{};
  c.provider = "zfs";
  c.zpool = "tank";
  c.dataset = "a//b";
  EXPECT_EQ(makeProvider(c).status().code(), ErrorCode::kInvalidArgument);
  c.dataset = "a/b";
  EXPECT_TRUE(makeProvider(c).isOk());
}

}  // namespace
}  // namespace tandem::devices
