#include "tandem/node/revert_marker.h"

#include <stdlib.h>

#include <filesystem>

#include <gtest/gtest.h>

namespace tandem::node {
namespace {

// A volume never reverted has no marker; the last completed revert's id reads back (also after a
// later revert replaces it) until the marker is removed with the volume.
TEST(RevertMarker, RecordsTheLastCompletedRevert) {
  char tmpl[] = "/tmp/tandem-revert-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  const std::string uuid = "0b0e2b5e-4c0a-4f43-9a86-3f1b7a0f5e11";
  EXPECT_EQ(*loadRevertMarker(dir, uuid), "");
  ASSERT_TRUE(saveRevertMarker(dir, uuid, "revert-1").isOk());
  EXPECT_EQ(*loadRevertMarker(dir, uuid), "revert-1");
  ASSERT_TRUE(saveRevertMarker(dir, uuid, "revert-2").isOk());
  EXPECT_EQ(*loadRevertMarker(dir, uuid), "revert-2");
  EXPECT_FALSE(std::filesystem::exists(dir + "/" + uuid + ".reverted.tmp"));
  ASSERT_TRUE(removeRevertMarker(dir, uuid).isOk());
  ASSERT_TRUE(removeRevertMarker(dir, uuid).isOk()) << "removing a missing marker is fine";
  EXPECT_EQ(*loadRevertMarker(dir, uuid), "");
  EXPECT_FALSE(saveRevertMarker(dir + "/missing-dir", uuid, "r").isOk());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tandem::node
