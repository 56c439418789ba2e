// ConfigWriter with the real drbdadm parser acting as each host (config_writer.h).
#include "tandem/drbd/config_writer.h"

#include <filesystem>

#include <gtest/gtest.h>

#include "drbd_test_support.h"
#include "fake_command_runner.h"
#include "tandem/drbd/durable_file.h"

namespace tandem::drbd {
namespace {

using testing::makeSpec;
using testing::RecordingRealRunner;
using testing::TempDir;

class DrbdConfigWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path.empty());
    ASSERT_TRUE(writer_.ensureConfig().isOk());
  }
  std::string read(const std::string& path) {
    auto r = readFileIfExists(path);
    return r.isOk() && *r ? **r : std::string("<absent>");
  }
  // Files in the directory other than the config: the live .res files and any leftovers.
  std::vector<std::string> files() {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(dir_.path + "/res")) out.push_back(e.path().filename());
    std::sort(out.begin(), out.end());
    return out;
  }
  TempDir dir_;
  RecordingRealRunner runner_;
  ConfigWriter writer_{runner_, {dir_.path + "/res", dir_.path + "/drbd.conf"}};
};

// 1..5 diskful replicas, with and without diskless hosts, are accepted by drbdadm acting as each
// host, and installed under <resource>.res.
TEST_F(DrbdConfigWriterTest, EveryShapeIsAcceptedByDrbdadmAsEachHost) {
  uint32_t minor = 1000;
  for (int diskful = 1; diskful <= 5; ++diskful) {
    for (int diskless = 0; diskless <= 2; ++diskless) {
      const std::string res = "v" + std::to_string(diskful) + "x" + std::to_string(diskless);
      auto spec = makeSpec(res, minor, diskful, diskless, 7000 + minor - 1000);
      ++minor;
      size_t before = runner_.calls.size();
      auto changed = writer_.write(spec);
      ASSERT_TRUE(changed.isOk()) << res << ": " << changed.status().toString();
      EXPECT_TRUE(*changed);
      EXPECT_EQ(runner_.calls.size() - before, spec.hosts.size()) << "one drbdadm sh-nop per host";
      EXPECT_EQ(runner_.calls.back()[1], "__DRBD_NODE__=" + spec.hosts.back().name);
      EXPECT_EQ(read(writer_.livePath(res)), *renderResource(spec));
    }
  }
  EXPECT_EQ(files().size(), 15u);  // no temporary file left
}

// A duplicate node-id is refused with drbdadm's own file:line message; the live file stays as it
// was and no temporary file remains.
TEST_F(DrbdConfigWriterTest, DuplicateNodeIdIsRefusedAndNothingIsRenamed) {
  auto good = makeSpec("vol", 1000, 3, 0);
  ASSERT_TRUE(writer_.write(good).isOk());
  const std::string before = read(writer_.livePath("vol"));
  auto bad = good;
  bad.hosts[2].node_id = 0;
  bad.hosts[2].address = "10.0.0.9";
  auto r = writer_.write(bad);
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("conflicting use of node-id"), std::string::npos) << r.status().toString();
  EXPECT_NE(r.status().message().find("acting as host n1"), std::string::npos) << r.status().toString();
  EXPECT_EQ(read(writer_.livePath("vol")), before);
  EXPECT_EQ(files(), std::vector<std::string>{"vol.res"});
}

// A port another resource uses on the same host is refused (drbdadm checks the new file against
// every other live resource), and so is one address:port for both ends.
TEST_F(DrbdConfigWriterTest, PortInUseByAnotherResourceIsRefused) {
  ASSERT_TRUE(writer_.write(makeSpec("first", 1000, 2, 0, 7000)).isOk());
  auto clash = writer_.write(makeSpec("second", 1001, 2, 0, 7000));
  ASSERT_FALSE(clash.isOk());
  EXPECT_NE(clash.status().message().find("is also used"), std::string::npos) << clash.status().toString();
  auto minor = writer_.write(makeSpec("third", 1000, 2, 0, 7001));
  ASSERT_FALSE(minor.isOk());
  EXPECT_NE(minor.status().message().find("conflicting use of device-minor"), std::string::npos)
      << minor.status().toString();
  auto same = makeSpec("fourth", 1002, 2, 0, 7002);
  same.hosts[1].address = same.hosts[0].address;
  EXPECT_FALSE(writer_.write(same).isOk());
  EXPECT_EQ(files(), std::vector<std::string>{"first.res"});
}

// Rewriting a resource's own file is checked against the others but not against its old self
// (-E): a peer added then removed is accepted; an unchanged spec runs no drbdadm and reports
// no change.
TEST_F(DrbdConfigWriterTest, PeerAddedAndRemovedAndUnchangedIsANoOp) {
  auto spec = makeSpec("vol", 1000, 2, 1);
  ASSERT_TRUE(writer_.write(spec).isOk());
  auto added = spec;
  added.hosts.push_back({"n9", "10.0.0.9", 7000, 3, "/dev/tandem/vol"});
  auto r = writer_.write(added);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_TRUE(*r);
  EXPECT_NE(std::find(runner_.calls.back().begin(), runner_.calls.back().end(), "-E"), runner_.calls.back().end());
  ASSERT_TRUE(writer_.write(spec).isOk());  // removed again
  size_t before = runner_.calls.size();
  auto again = writer_.write(spec);
  ASSERT_TRUE(again.isOk());
  EXPECT_FALSE(*again);
  EXPECT_EQ(runner_.calls.size(), before);
  ASSERT_TRUE(writer_.remove("vol").isOk());
  EXPECT_TRUE(files().empty());
}

// The writer keeps drbdadm's stderr when the tool refuses, whatever the runner: a scripted
// refusal is passed through in the error.
TEST(DrbdConfigWriter, RunnerRefusalKeepsStderr) {
  TempDir dir;
  devices::testing::FakeCommandRunner fake;
  fake.onFailure({"env"}, 10, "/x.res:3: parse error");
  ConfigWriter writer(fake, {dir.path + "/res", dir.path + "/drbd.conf"});
  ASSERT_TRUE(writer.ensureConfig().isOk());
  auto r = writer.write(makeSpec("vol", 1000, 1, 0));
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("/x.res:3: parse error"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir.path + "/res/vol.res"));
  EXPECT_FALSE(std::filesystem::exists(dir.path + "/res/.vol.res.tmp"));
}

}  // namespace
}  // namespace tandem::drbd
