#include "metadata/replica_metadata.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace tandem::replication {
namespace {

class ReplicaMetadataTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tandem-md-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

// Text form round-trips every field.
TEST_F(ReplicaMetadataTest, FormatAndParseRoundTrip) {
  ReplicaMetadata md{0xFEDCBA9876543210ull, DiskState::kInconsistent, 12, false, {7, 0xABCDEFull}};
  auto parsed = parseMetadata(formatMetadata(md));
  ASSERT_TRUE(parsed.isOk()) << parsed.status().toString();
  EXPECT_EQ(*parsed, md);
}

// Truncated or altered text is rejected, never half-read.
TEST_F(ReplicaMetadataTest, RejectsMalformedText) {
  std::string good = formatMetadata(ReplicaMetadata{1, DiskState::kUpToDate, 0, true, {}});
  for (size_t n = 0; n < good.size(); ++n) {
    auto r = parseMetadata(good.substr(0, n));
    EXPECT_FALSE(r.isOk()) << n;
  }
  std::string bad = good;
  bad.replace(bad.find("UpToDate"), 8, "Uptodate");
  EXPECT_FALSE(parseMetadata(bad).isOk());
  EXPECT_FALSE(parseMetadata(good + "extra 1\n").isOk());
}

// save() replaces the file atomically (no temp file left) and load() reads it back; a missing
// file is "no metadata", not an error.
TEST_F(ReplicaMetadataTest, SaveThenLoad) {
  const std::string path = dir_ + "/vol.md";
  auto missing = loadMetadata(path);
  ASSERT_TRUE(missing.isOk());
  EXPECT_FALSE(missing->has_value());
  ReplicaMetadata a{5, DiskState::kUpToDate, 1, true, {}};
  ReplicaMetadata b{6, DiskState::kOutdated, 2, false, {5}};
  ASSERT_TRUE(saveMetadata(path, a).isOk());
  ASSERT_TRUE(saveMetadata(path, b).isOk());
  auto loaded = loadMetadata(path);
  ASSERT_TRUE(loaded.isOk());
  ASSERT_TRUE(loaded->has_value());
  EXPECT_EQ(**loaded, b);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

// A corrupt file is reported, not treated as a fresh volume.
TEST_F(ReplicaMetadataTest, CorruptFileIsAnError) {
  const std::string path = dir_ + "/vol.md";
  std::ofstream(path) << "garbage\n";
  auto r = loadMetadata(path);
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), ErrorCode::kProtocol);
}

// Item 5 of issue 8 (a silently altered file was trusted): a metadata file whose content no
// longer matches its checksum is rejected, even when every line is still well-formed.
TEST_F(ReplicaMetadataTest, ChecksumMismatchIsRejected) {
  std::string good = formatMetadata(ReplicaMetadata{0x10, DiskState::kOutdated, 3, true, {0x0F}});
  ASSERT_TRUE(parseMetadata(good).isOk());
  std::string altered = good;
  altered.replace(altered.find("Outdated"), 8, "UpToDate");  // still a valid line
  auto r = parseMetadata(altered);
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("checksum"), std::string::npos) << r.status().toString();
}

// A version-1 file (before history and checksum) is still read, with an empty history.
TEST_F(ReplicaMetadataTest, VersionOneFileIsRead) {
  auto md = parseMetadata("tandem-replica-metadata 1\ngeneration 00000000000000aa\ndisk UpToDate\nepoch 2\nclean 1\n");
  ASSERT_TRUE(md.isOk()) << md.status().toString();
  EXPECT_EQ(*md, (ReplicaMetadata{0xAA, DiskState::kUpToDate, 2, true, {}}));
}

// advanceGeneration keeps the old generations, most recent first, bounded.
TEST_F(ReplicaMetadataTest, HistoryKeepsEarlierGenerations) {
  ReplicaMetadata md{1, DiskState::kUpToDate, 0, true, {}};
  for (uint64_t g = 2; g <= kMaxHistory + 10; ++g) advanceGeneration(md, g);
  EXPECT_EQ(md.generation, kMaxHistory + 10);
  ASSERT_EQ(md.history.size(), kMaxHistory);
  EXPECT_EQ(md.history.front(), kMaxHistory + 9);
  auto parsed = parseMetadata(formatMetadata(md));
  ASSERT_TRUE(parsed.isOk()) << parsed.status().toString();
  EXPECT_EQ(*parsed, md);
}

// removeMetadata deletes the file (and is fine when it is already gone).
TEST_F(ReplicaMetadataTest, RemoveDeletesTheFile) {
  const std::string path = dir_ + "/vol.md";
  ASSERT_TRUE(saveMetadata(path, ReplicaMetadata{5, DiskState::kUpToDate, 1, true, {}}).isOk());
  ASSERT_TRUE(removeMetadata(path).isOk());
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_TRUE(removeMetadata(path).isOk());
}

// Every node derives the same non-zero initial generation from the uuid; uuids differ.
TEST_F(ReplicaMetadataTest, InitialGenerationIsDerivedFromTheUuid) {
  auto a = initialGeneration("0f8e2a4c-1b3d-4e5f-8a9b-0c1d2e3f4a5b");
  EXPECT_EQ(a, initialGeneration("0f8e2a4c-1b3d-4e5f-8a9b-0c1d2e3f4a5b"));
  EXPECT_NE(a, initialGeneration("0f8e2a4c-1b3d-4e5f-8a9b-0c1d2e3f4a5c"));
  EXPECT_NE(a, 0u);
  EXPECT_EQ(formatGeneration(0xABCull), "0000000000000abc");
}

}  // namespace
}  // namespace tandem::replication
