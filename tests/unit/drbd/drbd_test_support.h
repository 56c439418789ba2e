// Helpers shared by the DRBD tests: a temporary directory, specs, and a runner that runs the real
// tools while recording each command and its output.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "tandem/devices/command_runner.h"
#include "tandem/drbd/resource_spec.h"

namespace tandem::drbd::testing {

struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/tandem-drbd-XXXXXX";
    path = ::mkdtemp(tmpl) ? tmpl : "";
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string path;
};

// Runs commands for real and keeps every argv with its output.
class RecordingRealRunner final : public devices::CommandRunner {
 public:
  Result<devices::CommandOutput> run(const std::vector<std::string>& argv) override {
    auto out = real_.run(argv);
    std::lock_guard lock(mu_);
    calls.push_back(argv);
    outputs.push_back(out.isOk() ? *out : devices::CommandOutput{-1, "", out.status().toString()});
    return out;
  }
  std::string allStdout() const {
    std::string s;
    for (const auto& o : outputs) s += o.stdout_text;
    return s;
  }
  std::vector<std::vector<std::string>> calls;
  std::vector<devices::CommandOutput> outputs;

 private:
  devices::SubprocessCommandRunner real_;
  std::mutex mu_;
};

// A volume with `diskful` replicas n1.. (backing /dev/tandem/<res>) and `diskless` hosts d1..
// (tie-breakers or clients), node-ids in order, port 7000 + offset on every host.
inline DrbdResourceSpec makeSpec(const std::string& res, uint32_t minor, int diskful, int diskless,
                                 uint32_t port = 7000) {
  DrbdResourceSpec s;
  s.resource = res;
  s.minor = minor;
  s.shared_secret = "secret-" + res;
  uint32_t id = 0;
  for (int i = 1; i <= diskful; ++i, ++id) {
    s.hosts.push_back({"n" + std::to_string(i), "10.0.0." + std::to_string(i), port, id, "/dev/tandem/" + res});
  }
  for (int i = 1; i <= diskless; ++i, ++id) {
    s.hosts.push_back({"d" + std::to_string(i), "10.0.1." + std::to_string(i), port, id, ""});
  }
  return s;
}

}  // namespace tandem::drbd::testing
