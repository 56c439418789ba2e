// Command-line parsing of `tandem`: global flags (anywhere on the line), the command words
// and the command's own options. Only syntax here; what the words mean is command.h.
// Pure functions; thread-safe.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tandem/common/status.h"

namespace tandem::cli {

struct ParsedArgs {
  // Global flags; unset optionals fall back to the environment and the config file.
  std::optional<std::string> url;      // --url
  std::optional<std::string> token;    // --token
  std::optional<std::string> ca_file;  // --ca-file
  std::optional<std::string> config;   // --config
  bool insecure = false;               // --insecure
  bool json = false;                   // --json
  bool help = false;                   // --help, -h

  std::vector<std::string> words;              // "volume", "create", "v1"
  std::map<std::string, std::string> options;  // command options without "--": {"size": "1GiB"}
};

// Accepts "--flag value" and "--flag=value"; "--" ends the flags. Command options are
// --replicas, --engine, --size, --group (with a value) and --thin, --thick (without).
// A later repetition overrides an earlier one. Fails (kInvalidArgument) on an unknown flag or
// a missing value.
Result<ParsedArgs> parseArgs(const std::vector<std::string>& args);

}  // namespace tandem::cli
