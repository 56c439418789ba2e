#include "tandem/poolfs/attr_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace tandem::poolfs {
namespace {

class AttrStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("attrs-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string path() const { return (dir_ / "attrs-g").string(); }
  std::filesystem::path dir_;
};

// What is set survives a reload from the file; erase forgets; an absent file is empty.
TEST_F(AttrStoreTest, KeepsOwnerAndModeAcrossReloads) {
  AttrStore store(path());
  ASSERT_TRUE(store.load().isOk());
  EXPECT_EQ(store.get("u1", FileAttrs{0600, 0, 0}), (FileAttrs{0600, 0, 0}));
  ASSERT_TRUE(store.set("u1", FileAttrs{0660, 64055, 64056}).isOk());
  ASSERT_TRUE(store.set("u2", FileAttrs{0640, 1, 2}).isOk());
  ASSERT_TRUE(store.erase("u2").isOk());
  AttrStore again(path());
  ASSERT_TRUE(again.load().isOk());
  EXPECT_EQ(again.get("u1", FileAttrs{}), (FileAttrs{0660, 64055, 64056}));
  EXPECT_EQ(again.get("u2", FileAttrs{0600, 7, 7}), (FileAttrs{0600, 7, 7}));
}

// A malformed line is refused, naming the file and line.
TEST_F(AttrStoreTest, RefusesAMalformedFile) {
  std::ofstream(path()) << "u1 660 1 2\nu2 notoctal\n";
  AttrStore store(path());
  Status s = store.load();
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(s.message().find(":2:"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace tandem::poolfs
