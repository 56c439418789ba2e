#include "tandem/node/identity.h"

#include <stdlib.h>

#include <filesystem>

#include <gtest/gtest.h>

namespace tandem::node {
namespace {

// A new node has an empty identity; a saved identity reads back whole.
TEST(NodeIdentity, RoundTripsAndStartsEmpty) {
  char tmpl[] = "/tmp/tandem-identity-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  auto fresh = loadIdentity(dir);
  ASSERT_TRUE(fresh.isOk()) << fresh.status().toString();
  EXPECT_TRUE(fresh->uuid.empty());
  EXPECT_TRUE(fresh->cluster_id.empty());
  ASSERT_TRUE(saveIdentity(dir, {"n1", "0b0e2b5e-4c0a-4f43-9a86-3f1b7a0f5e11", "cluster-a"}).isOk());
  auto back = loadIdentity(dir);
  ASSERT_TRUE(back.isOk());
  EXPECT_EQ(back->name, "n1");
  EXPECT_EQ(back->uuid, "0b0e2b5e-4c0a-4f43-9a86-3f1b7a0f5e11");
  EXPECT_EQ(back->cluster_id, "cluster-a");
  EXPECT_FALSE(std::filesystem::exists(dir + "/identity.tmp"));
  EXPECT_FALSE(saveIdentity(dir + "/missing-dir", {"n1", "u", "c"}).isOk());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tandem::node
