// Detecting whether this host can run the DRBD engine (capability.h).
#include "tandem/drbd/capability.h"

#include <gtest/gtest.h>

#include "fake_command_runner.h"

namespace tandem::drbd {
namespace {

const char* const kVersionWithModule =
    "DRBDADM_BUILDTAG=GIT-hash:\\ abc\nDRBDADM_API_VERSION=2\nDRBD_KERNEL_VERSION_CODE=0x090208\n"
    "DRBD_KERNEL_VERSION=9.2.8\nDRBDADM_VERSION_CODE=0x091600\nDRBDADM_VERSION=9.22.0\n";

// The parsers read /proc/drbd's version line and drbdadm --version's fields.
TEST(DrbdCapability, Parsers) {
  EXPECT_EQ(parseProcDrbdVersion("version: 9.2.8 (api:2/proto:86-122)\nGIT-hash: x\n"), "9.2.8");
  EXPECT_EQ(parseProcDrbdVersion("version: 8.4.11 (api:1/proto:86-101)\n"), "8.4.11");
  EXPECT_EQ(parseProcDrbdVersion("garbage"), "");
  EXPECT_EQ(drbdadmVersionField(kVersionWithModule, "DRBD_KERNEL_VERSION"), "9.2.8");
  EXPECT_EQ(drbdadmVersionField(kVersionWithModule, "DRBDADM_VERSION"), "9.22.0");
  EXPECT_EQ(drbdadmVersionField(kVersionWithModule, "NOPE"), "");
}

// A 9.x module and drbd-utils: usable. An 8.4 module, no module, no drbdadm: each says why not.
TEST(DrbdCapability, UsableOnlyWithA9ModuleAndUtils) {
  devices::testing::FakeCommandRunner with;
  with.onStdout({"drbdadm", "--version"}, kVersionWithModule);
  EXPECT_EQ(probeDrbd(with, "version: 9.2.8 (api:2/proto:86-122)\n"), (DrbdCapability{"9.2.8", "9.22.0", ""}));
  EXPECT_TRUE(probeDrbd(with, std::nullopt).usable());  // from drbdadm alone
  auto old = probeDrbd(with, "version: 8.4.11 (api:1/proto:86-101)\n");
  EXPECT_EQ(old.missing, "the loaded DRBD kernel module is 8.4.11, not 9.x");
  devices::testing::FakeCommandRunner none;
  none.on({"drbdadm"}, {0, "DRBD_KERNEL_VERSION=0\nDRBDADM_VERSION=9.22.0\n", ""});
  EXPECT_EQ(probeDrbd(none, std::nullopt).missing, "the DRBD 9 kernel module is not loaded (/proc/drbd is missing)");
  devices::testing::FakeCommandRunner failing;
  failing.onFailure({"drbdadm"}, 1, "");
  auto no_utils = probeDrbd(failing, "version: 9.2.8 (api:2/proto:86-122)\n");
  EXPECT_FALSE(no_utils.usable());
  EXPECT_EQ(no_utils.missing, "drbdadm --version failed (exit 1)");
}

// The node's status report carries the capability: loaded with the version, or the reason.
TEST(DrbdCapability, ReportCarriesVersionOrReason) {
  DrbdUtils utils{"9.22.0", "", ""};
  EXPECT_EQ(capabilityReport(assessDrbd(utils, "version: 9.2.8 (api:2/proto:86-122)\n")),
            (nodeapi::DrbdCapabilityReport{true, "9.2.8", ""}));
  EXPECT_EQ(capabilityReport(assessDrbd(utils, std::nullopt)),
            (nodeapi::DrbdCapabilityReport{false, "", "the DRBD 9 kernel module is not loaded (/proc/drbd is missing)"}));
  EXPECT_EQ(capabilityReport(assessDrbd(utils, "version: 8.4.11 (api:1/proto:86-101)\n")),
            (nodeapi::DrbdCapabilityReport{false, "8.4.11", "the loaded DRBD kernel module is 8.4.11, not 9.x"}));
  DrbdUtils missing{"", "", "drbd-utils is not installed: no such file"};
  EXPECT_EQ(capabilityReport(assessDrbd(missing, "version: 9.2.8\n")).reason, "drbd-utils is not installed: no such file");
}

// On this machine, for real: drbd-utils is installed; the module is loaded only on DRBD hosts.
TEST(DrbdCapability, RealProbe) {
  devices::SubprocessCommandRunner runner;
  auto cap = probeDrbd(runner, std::nullopt);
  EXPECT_FALSE(cap.utils_version.empty()) << "drbd-utils missing: run script/deps test";
  EXPECT_EQ(cap.utils_version.rfind("9.", 0), 0u) << cap.utils_version;
}

}  // namespace
}  // namespace tandem::drbd
