#include "tandem/node/pool_spec.h"

#include <gtest/gtest.h>

namespace tandem::node {
namespace {

// Each provider's location form parses into its PoolConfig fields.
TEST(PoolSpec, ParsesEachProvider) {
  auto f = parsePoolSpec("fast=file:/srv/fast");
  ASSERT_TRUE(f.isOk()) << f.status().toString();
  EXPECT_EQ(f->name, "fast");
  EXPECT_EQ(f->config.provider, "file");
  EXPECT_EQ(f->config.path, "/srv/fast");
  auto l = parsePoolSpec("bulk=lvm-thin:vg0/thin");
  ASSERT_TRUE(l.isOk());
  EXPECT_EQ(l->config.volume_group, "vg0");
  EXPECT_EQ(l->config.thin_pool, "thin");
  auto z = parsePoolSpec("z=zfs:tank/tandem/vols");
  ASSERT_TRUE(z.isOk());
  EXPECT_EQ(z->config.zpool, "tank");
  EXPECT_EQ(z->config.dataset, "tandem/vols");
}

// Malformed specs are refused with the text and the expected form in the message.
TEST(PoolSpec, RejectsMalformedSpecs) {
  for (const char* text : {"fast", "fast=file", "=file:/x", "../x=file:/x", "fast=file:relative", "fast=nfs:/x",
                           "bulk=lvm-thin:vg0", "bulk=lvm-thin:vg0/a/b", "z=zfs:", "fast=file:"}) {
    auto s = parsePoolSpec(text);
    ASSERT_FALSE(s.isOk()) << text;
    EXPECT_EQ(s.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(s.status().message().find("expected NAME="), std::string::npos) << s.status().message();
  }
}

}  // namespace
}  // namespace tandem::node
