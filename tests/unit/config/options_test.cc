#include "tandem/config/options.h"

#include <stdlib.h>
#include <unistd.h>

#include <fstream>

#include <gtest/gtest.h>

namespace tandem::config {
namespace {

Options table() {
  return Options({{"port", OptionType::kUint, "8443", "port"},
                  {"listen", OptionType::kString, "127.0.0.1", "address"},
                  {"verbose", OptionType::kBool, "false", "more output"},
                  {"timeout", OptionType::kDuration, "6s", "timeout"}});
}

class OptionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tandem-options-XXXXXX";
    int fd = mkstemp(tmpl);
    ASSERT_GE(fd, 0);
    close(fd);
    file_ = tmpl;
  }
  void TearDown() override { unlink(file_.c_str()); }
  void writeFile(const std::string& text) { std::ofstream(file_) << text; }
  std::string file_;
};

// Defaults apply; the config file overrides them; flags override the file.
TEST_F(OptionsTest, FlagsOverrideFileOverridesDefaults) {
  writeFile("# comment\nport = 9000\nlisten = 0.0.0.0\n");
  Options o = table();
  const char* argv[] = {"prog", "--config", file_.c_str(), "--port=9100", "--verbose"};
  ASSERT_TRUE(o.parse(5, argv).isOk());
  EXPECT_EQ(o.uint("port"), 9100u);
  EXPECT_EQ(o.string("listen"), "0.0.0.0");
  EXPECT_TRUE(o.boolean("verbose"));
  EXPECT_EQ(o.duration("timeout"), std::chrono::seconds(6));
}

// Unknown names and malformed values are errors that name the option and where it came from.
TEST_F(OptionsTest, BadInputIsNamed) {
  Options a = table();
  const char* unknown[] = {"prog", "--colour=red"};
  Status s = a.parse(2, unknown);
  EXPECT_NE(s.message().find("unknown option 'colour'"), std::string::npos) << s.message();
  Options b = table();
  const char* bad_port[] = {"prog", "--port=12ab"};
  EXPECT_NE(b.parse(2, bad_port).message().find("'port'"), std::string::npos);
  writeFile("timeout = soon\n");
  Options c = table();
  const char* from_file[] = {"prog", "--config=" , nullptr};
  std::string arg = "--config=" + file_;
  from_file[1] = arg.c_str();
  Status f = c.parse(2, from_file);
  EXPECT_NE(f.message().find(file_ + ":1"), std::string::npos) << f.message();
}

// A list option collects every occurrence; flags replace what the config file listed.
TEST_F(OptionsTest, ListOptionsAccumulate) {
  writeFile("pool = a=file:/x\npool = b=file:/y\n");
  Options file_only({{"pool", OptionType::kList, "", "pools"}});
  std::string arg = "--config=" + file_;
  const char* argv1[] = {"prog", arg.c_str()};
  ASSERT_TRUE(file_only.parse(2, argv1).isOk());
  EXPECT_EQ(file_only.list("pool"), (std::vector<std::string>{"a=file:/x", "b=file:/y"}));
  Options both({{"pool", OptionType::kList, "", "pools"}});
  const char* argv2[] = {"prog", arg.c_str(), "--pool", "c=file:/z", "--pool=d=file:/w"};
  ASSERT_TRUE(both.parse(5, argv2).isOk());
  EXPECT_EQ(both.list("pool"), (std::vector<std::string>{"c=file:/z", "d=file:/w"}));
}

TEST(Duration, ParsesUnits) {
  EXPECT_EQ(*parseDuration("500ms"), std::chrono::milliseconds(500));
  EXPECT_EQ(*parseDuration("2m"), std::chrono::minutes(2));
  EXPECT_EQ(*parseDuration("3"), std::chrono::seconds(3));
  EXPECT_FALSE(parseDuration("3 days").isOk());
  EXPECT_FALSE(parseDuration("ms").isOk());
}

}  // namespace
}  // namespace tandem::config
