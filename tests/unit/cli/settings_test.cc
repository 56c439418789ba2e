#include "tandem/cli/settings.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>

#include <gtest/gtest.h>

namespace tandem::cli {
namespace {

// Runs with a clean TANDEM_* environment and HOME pointing at a fresh temp dir; restores the
// previous environment afterwards.
class SettingsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tandem-cli-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    for (const char* name : kVars) {
      const char* v = ::getenv(name);
      saved_[name] = v ? std::optional<std::string>(v) : std::nullopt;
      ::unsetenv(name);
    }
    ::setenv("HOME", dir_.c_str(), 1);
  }
  void TearDown() override {
    for (const auto& [name, value] : saved_) {
      if (value) {
        ::setenv(name.c_str(), value->c_str(), 1);
      } else {
        ::unsetenv(name.c_str());
      }
    }
    std::filesystem::remove_all(dir_);
  }
  std::string writeFile(const std::string& relative, const std::string& text) {
    std::string path = dir_ + "/" + relative;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    std::ofstream(path) << text;
    return path;
  }
  Result<Settings> resolve(const std::vector<std::string>& argv) {
    auto args = parseArgs(argv);
    if (!args.isOk()) return args.status();
    return resolveSettings(*args, processEnvironment(), realFileReader());
  }

  static constexpr const char* kVars[] = {"TANDEM_URL", "TANDEM_TOKEN", "TANDEM_CA_FILE",
                                          "TANDEM_CONFIG", "HOME"};
  std::string dir_;
  std::map<std::string, std::optional<std::string>> saved_;
};

// Each setting comes from the flag if given, else the environment, else the config file.
TEST_F(SettingsTest, FlagsBeatEnvironmentBeatConfigFile) {
  std::string conf = writeFile("c.conf",
                               "# comment\n\n url = https://from-file:1 \n"
                               "token=file-token\nca_file = /file/ca.pem\n");
  ::setenv("TANDEM_TOKEN", "env-token", 1);
  ::setenv("TANDEM_CA_FILE", "/env/ca.pem", 1);
  auto s = resolve({"--config", conf, "--ca-file", "/flag/ca.pem", "volume", "list"});
  ASSERT_TRUE(s.isOk()) << s.status().toString();
  EXPECT_EQ(s->url, "https://from-file:1");  // only in the file
  EXPECT_EQ(s->token, "env-token");          // env beats file
  EXPECT_EQ(s->ca_file, "/flag/ca.pem");     // flag beats env and file
  EXPECT_FALSE(s->insecure);

  ::setenv("TANDEM_URL", "https://from-env:2", 1);
  auto s2 = resolve({"--config", conf, "--token", "flag-token"});
  ASSERT_TRUE(s2.isOk());
  EXPECT_EQ(s2->url, "https://from-env:2");
  EXPECT_EQ(s2->token, "flag-token");
  EXPECT_EQ(s2->ca_file, "/env/ca.pem");
}

// Without --config, $TANDEM_CONFIG names the file; without both, ~/.config/tandem/cli.conf.
TEST_F(SettingsTest, ConfigFileLookupOrder) {
  writeFile(".config/tandem/cli.conf", "url = https://home:1\ninsecure = true\n");
  auto home = resolve({});
  ASSERT_TRUE(home.isOk()) << home.status().toString();
  EXPECT_EQ(home->url, "https://home:1");
  EXPECT_TRUE(home->insecure);

  std::string named = writeFile("named.conf", "url = https://named:1\n");
  ::setenv("TANDEM_CONFIG", named.c_str(), 1);
  EXPECT_EQ(resolve({})->url, "https://named:1");

  std::string flag = writeFile("flag.conf", "url = https://flag:1\n");
  EXPECT_EQ(resolve({"--config", flag})->url, "https://flag:1");
}

// A missing default file is fine; a missing named file, a bad line or unknown key is not;
// and without any URL there is nothing to talk to.
TEST_F(SettingsTest, ReportsConfigProblems) {
  auto none = resolve({});
  ASSERT_FALSE(none.isOk());
  EXPECT_NE(none.status().message().find("no controller URL"), std::string::npos);
  EXPECT_TRUE(resolve({"--url", "https://x:1"}).isOk());

  auto missing = resolve({"--url", "https://x:1", "--config", dir_ + "/nope.conf"});
  ASSERT_FALSE(missing.isOk());
  EXPECT_NE(missing.status().message().find("nope.conf"), std::string::npos);

  std::string bad_line = writeFile("bad.conf", "url https://x:1\n");
  auto r1 = resolve({"--config", bad_line});
  ASSERT_FALSE(r1.isOk());
  EXPECT_NE(r1.status().message().find("bad.conf:1"), std::string::npos) << r1.status().message();

  std::string bad_key = writeFile("key.conf", "url = https://x:1\n\nurll = y\n");
  auto r2 = resolve({"--config", bad_key});
  ASSERT_FALSE(r2.isOk());
  EXPECT_NE(r2.status().message().find("key.conf:3: unknown key 'urll'"), std::string::npos)
      << r2.status().message();

  std::string bad_bool = writeFile("bool.conf", "url = https://x:1\ninsecure = yes\n");
  EXPECT_FALSE(resolve({"--config", bad_bool}).isOk());
}

}  // namespace
}  // namespace tandem::cli
