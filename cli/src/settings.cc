#include "tandem/cli/settings.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace tandem::cli {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// Loads the config file chosen by precedence; an absent default file gives no settings.
Result<std::map<std::string, std::string>> loadConfig(const ParsedArgs& args, const EnvLookup& env,
                                                      const FileReader& read_file) {
  std::string path;
  bool must_exist = true;
  if (args.config) {
    path = *args.config;
  } else if (auto from_env = env("TANDEM_CONFIG"); from_env && !from_env->empty()) {
    path = *from_env;
  } else if (auto home = env("HOME"); home && !home->empty()) {
    path = *home + "/.config/tandem/cli.conf";
    must_exist = false;
  } else {
    return std::map<std::string, std::string>();
  }
  auto text = read_file(path);
  if (!text.isOk()) {
    if (text.status().code() == ErrorCode::kNotFound && !must_exist) {
      return std::map<std::string, std::string>();
    }
    return Status(ErrorCode::kInvalidArgument,
                  "cannot read config file '" + path + "': " + text.status().message());
  }
  return parseConfigFile(*text, path);
}

}  // namespace

EnvLookup processEnvironment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

FileReader realFileReader() {
  return [](const std::string& path) -> Result<std::string> {
    std::ifstream in(path);
    if (!in) return Status::fromErrno(errno, "open " + path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  };
}

Result<std::map<std::string, std::string>> parseConfigFile(std::string_view text,
                                                           const std::string& path) {
  std::map<std::string, std::string> out;
  int line_number = 0;
  while (!text.empty()) {
    size_t newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text = newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);
    ++line_number;
    line = trim(line);
    if (line.empty() || line.front() == '#') continue;
    auto where = [&] { return path + ":" + std::to_string(line_number) + ": "; };
    size_t eq = line.find('=');
    if (eq == std::string_view::npos) {
      return Status(ErrorCode::kInvalidArgument, where() + "expected 'key = value'");
    }
    std::string key(trim(line.substr(0, eq)));
    std::string value(trim(line.substr(eq + 1)));
    if (key != "url" && key != "token" && key != "ca_file" && key != "insecure") {
      return Status(ErrorCode::kInvalidArgument,
                    where() + "unknown key '" + key + "' (known: url, token, ca_file, insecure)");
    }
    out[key] = value;
  }
  return out;
}

Result<Settings> resolveSettings(const ParsedArgs& args, const EnvLookup& env,
                                 const FileReader& read_file) {
  ASSIGN_OR_RETURN(auto config, loadConfig(args, env, read_file));
  auto pick = [&](const std::optional<std::string>& flag, const char* env_name,
                  const char* config_key) -> std::string {
    if (flag) return *flag;
    if (auto value = env(env_name); value && !value->empty()) return *value;
    auto it = config.find(config_key);
    return it == config.end() ? std::string() : it->second;
  };
  Settings s;
  s.url = pick(args.url, "TANDEM_URL", "url");
  s.token = pick(args.token, "TANDEM_TOKEN", "token");
  s.ca_file = pick(args.ca_file, "TANDEM_CA_FILE", "ca_file");
  s.insecure = args.insecure;
  if (!s.insecure) {
    auto it = config.find("insecure");
    if (it != config.end()) {
      if (it->second == "true") {
        s.insecure = true;
      } else if (it->second != "false") {
        return Status(ErrorCode::kInvalidArgument, "config key insecure must be true or false");
      }
    }
  }
  if (s.url.empty()) {
    return Status(ErrorCode::kInvalidArgument,
                  "no controller URL: use --url, TANDEM_URL or 'url = ...' in the config file");
  }
  return s;
}

}  // namespace tandem::cli
