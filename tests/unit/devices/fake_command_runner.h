// FakeCommandRunner: records every argv it is asked to run and answers from a script of
// canned outputs, matched by the command line's prefix. Unmatched commands succeed silently.
// Thread-safe (one mutex).
#pragma once

#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "tandem/devices/command_runner.h"

namespace tandem::devices::testing {

class FakeCommandRunner final : public CommandRunner {
 public:
  // Every later command whose argv starts with `prefix` gets `output` (the latest rule wins).
  void on(std::vector<std::string> prefix, CommandOutput output) {
    std::lock_guard lock(mu_);
    rules_.emplace_back(std::move(prefix), std::move(output));
  }
  void onStdout(std::vector<std::string> prefix, std::string out) {
    on(std::move(prefix), CommandOutput{0, std::move(out), ""});
  }
  void onFailure(std::vector<std::string> prefix, int exit_code, std::string err) {
    on(std::move(prefix), CommandOutput{exit_code, "", std::move(err)});
  }

  Result<CommandOutput> run(const std::vector<std::string>& argv) override {
    std::lock_guard lock(mu_);
    calls_.push_back(argv);
    for (auto it = rules_.rbegin(); it != rules_.rend(); ++it) {
      const auto& prefix = it->first;
      if (prefix.size() <= argv.size() && std::equal(prefix.begin(), prefix.end(), argv.begin())) {
        return it->second;
      }
    }
    return CommandOutput{};
  }

  std::vector<std::vector<std::string>> calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }
  // The calls whose program is not `skip` (e.g. all but the listing commands).
  std::vector<std::vector<std::string>> callsExcept(const std::string& skip_program,
                                                    const std::string& skip_subcommand = "") const {
    std::vector<std::vector<std::string>> out;
    for (auto& c : calls()) {
      bool skip = !c.empty() && c[0] == skip_program &&
                  (skip_subcommand.empty() || (c.size() > 1 && c[1] == skip_subcommand));
      if (!skip) out.push_back(c);
    }
    return out;
  }
  void clearCalls() {
    std::lock_guard lock(mu_);
    calls_.clear();
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::pair<std::vector<std::string>, CommandOutput>> rules_;
  std::vector<std::vector<std::string>> calls_;
};

}  // namespace tandem::devices::testing
