// Where `tandem` connects and with what credentials. Precedence, per setting:
// command-line flag > environment (TANDEM_URL, TANDEM_TOKEN, TANDEM_CA_FILE) > config file.
// The config file is --config PATH, else $TANDEM_CONFIG, else ~/.config/tandem/cli.conf (the
// last one may be absent; a file named explicitly must exist). Its lines are `key = value`
// with keys url, token, ca_file, insecure (true|false); blank lines and `#` comments are
// ignored. Pure functions over injected lookups; thread-safe.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "tandem/cli/args.h"
#include "tandem/common/status.h"

namespace tandem::cli {

struct Settings {
  std::string url;      // "https://controller:8443"
  std::string token;    // empty: send no Authorization header
  std::string ca_file;  // empty: the system store
  bool insecure = false;
};

// Reads an environment variable (std::nullopt when unset).
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;
// Reads a whole file (kNotFound when it does not exist).
using FileReader = std::function<Result<std::string>(const std::string& path)>;

// The real process environment and file system.
EnvLookup processEnvironment();
FileReader realFileReader();

// Parses a config file's text into key → value; fails (kInvalidArgument) naming `path` and the
// line on a malformed line or an unknown key.
Result<std::map<std::string, std::string>> parseConfigFile(std::string_view text,
                                                           const std::string& path);

// Applies the precedence above. Fails (kInvalidArgument) if no URL results, if an explicitly
// named config file is missing or malformed, or if `insecure` is not true/false.
Result<Settings> resolveSettings(const ParsedArgs& args, const EnvLookup& env,
                                 const FileReader& read_file);

}  // namespace tandem::cli
