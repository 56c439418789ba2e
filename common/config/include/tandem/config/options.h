// Options: one table of a program's settings (name, default, help) — the single source of
// truth for its flags, its config file and its --help text.
//
// Sources, later ones winning: defaults < config file (`--config PATH`; lines `name = value`,
// '#' comments) < command-line flags (`--name=value` or `--name value`; `--flag` for booleans).
// Unknown names and malformed values are errors naming the option and the source.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tandem/common/status.h"

namespace tandem::config {

// duration: "500ms", "6s", "2m"; list: repeatable (each flag or config line adds one value;
// flags replace the config file's values as a whole).
enum class OptionType { kString, kUint, kBool, kDuration, kList };

struct OptionSpec {
  std::string name;
  OptionType type = OptionType::kString;
  std::string default_value;
  std::string help;
};

class Options {
 public:
  explicit Options(std::vector<OptionSpec> specs);

  // Parses argv (argv[0] skipped). Returns kInvalidArgument with a precise message on error.
  // Sets helpRequested() for --help.
  Status parse(int argc, const char* const* argv);
  bool helpRequested() const { return help_; }
  std::string helpText(const std::string& program, const std::string& summary) const;

  std::string string(const std::string& name) const;
  uint64_t uint(const std::string& name) const;
  bool boolean(const std::string& name) const;
  std::chrono::milliseconds duration(const std::string& name) const;
  const std::vector<std::string>& list(const std::string& name) const;

 private:
  Status set(const std::string& name, const std::string& value, const std::string& source);
  Status loadFile(const std::string& path);
  const OptionSpec* spec(const std::string& name) const;

  std::vector<OptionSpec> specs_;
  std::map<std::string, std::string> values_;
  std::map<std::string, std::vector<std::string>> lists_;
  std::map<std::string, std::string> list_sources_;  // which source last set each list
  bool help_ = false;
};

// Parses "500ms", "6s", "2m", "1h" (a bare number is seconds).
Result<std::chrono::milliseconds> parseDuration(const std::string& text);

}  // namespace tandem::config
