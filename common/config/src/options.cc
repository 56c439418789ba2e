#include "tandem/config/options.h"

#include <charconv>
#include <fstream>
#include <sstream>

namespace tandem::config {
namespace {

Result<uint64_t> parseUint(const std::string& text) {
  uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) {
    return Status(ErrorCode::kInvalidArgument, "'" + text + "' is not a non-negative integer");
  }
  return v;
}

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

}  // namespace

Result<std::chrono::milliseconds> parseDuration(const std::string& text) {
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  auto number = parseUint(text.substr(0, digits));
  std::string unit = text.substr(digits);
  if (!number.isOk()) return Status(ErrorCode::kInvalidArgument, "'" + text + "' is not a duration (e.g. 500ms, 6s)");
  uint64_t n = *number;
  if (unit == "ms") return std::chrono::milliseconds(n);
  if (unit == "s" || unit.empty()) return std::chrono::milliseconds(n * 1000);
  if (unit == "m") return std::chrono::milliseconds(n * 60'000);
  if (unit == "h") return std::chrono::milliseconds(n * 3'600'000);
  return Status(ErrorCode::kInvalidArgument, "'" + text + "' has an unknown duration unit (ms, s, m, h)");
}

Options::Options(std::vector<OptionSpec> specs) : specs_(std::move(specs)) {
  for (const auto& s : specs_) {
    if (s.type == OptionType::kList) {
      lists_[s.name] = {};
    } else {
      values_[s.name] = s.default_value;
    }
  }
}

const std::vector<std::string>& Options::list(const std::string& name) const {
  static const std::vector<std::string> kEmpty;
  auto it = lists_.find(name);
  return it == lists_.end() ? kEmpty : it->second;
}

const OptionSpec* Options::spec(const std::string& name) const {
  for (const auto& s : specs_) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

Status Options::set(const std::string& name, const std::string& value, const std::string& source) {
  const OptionSpec* s = spec(name);
  if (s == nullptr) return Status(ErrorCode::kInvalidArgument, source + ": unknown option '" + name + "'");
  Status valid;
  switch (s->type) {
    case OptionType::kString: break;
    case OptionType::kUint: valid = parseUint(value).status(); break;
    case OptionType::kBool:
      if (value != "true" && value != "false") valid = Status(ErrorCode::kInvalidArgument, "must be true or false");
      break;
    case OptionType::kDuration: valid = parseDuration(value).status(); break;
    case OptionType::kList: {
      bool from_flags = source == "command line";
      auto& previous = list_sources_[name];
      bool previous_flags = previous == "command line";
      if (from_flags && !previous_flags) lists_[name].clear();  // flags replace the file's list
      previous = from_flags ? "command line" : "file";
      lists_[name].push_back(value);
      return Status::ok();
    }
  }
  if (!valid.isOk()) {
    return Status(ErrorCode::kInvalidArgument, source + ": option '" + name + "': " + valid.message());
  }
  values_[name] = value;
  return Status::ok();
}

Status Options::loadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::fromErrno(errno, "read config file " + path);
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    line = trim(line.substr(0, line.find('#')));
    if (line.empty()) continue;
    size_t eq = line.find('=');
    std::string where = path + ":" + std::to_string(number);
    if (eq == std::string::npos) return Status(ErrorCode::kInvalidArgument, where + ": expected 'name = value'");
    RETURN_IF_ERROR(set(trim(line.substr(0, eq)), trim(line.substr(eq + 1)), where));
  }
  return Status::ok();
}

Status Options::parse(int argc, const char* const* argv) {
  std::vector<std::pair<std::string, std::string>> flags;
  std::string config_file;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      help_ = true;
      continue;
    }
    if (arg.rfind("--", 0) != 0) return Status(ErrorCode::kInvalidArgument, "unexpected argument '" + arg + "'");
    arg = arg.substr(2);
    std::string name = arg, value;
    size_t eq = arg.find('=');
    if (eq != std::string::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
    } else {
      const OptionSpec* s = spec(name);
      if (s != nullptr && s->type == OptionType::kBool) {
        value = "true";
      } else if (name == "config" || s != nullptr) {
        if (i + 1 >= argc) return Status(ErrorCode::kInvalidArgument, "option '--" + name + "' needs a value");
        value = argv[++i];
      }
    }
    if (name == "config") {
      config_file = value;
    } else {
      flags.emplace_back(name, value);
    }
  }
  if (!config_file.empty()) RETURN_IF_ERROR(loadFile(config_file));
  for (const auto& [name, value] : flags) RETURN_IF_ERROR(set(name, value, "command line"));
  return Status::ok();
}

std::string Options::helpText(const std::string& program, const std::string& summary) const {
  std::ostringstream out;
  out << "usage: " << program << " [--config FILE] [--option=value ...]\n" << summary << "\n\noptions:\n";
  for (const auto& s : specs_) {
    out << "  --" << s.name;
    if (!s.default_value.empty()) out << " (default: " << s.default_value << ")";
    out << "\n      " << s.help << "\n";
  }
  return out.str();
}

std::string Options::string(const std::string& name) const {
  auto it = values_.find(name);
  return it == values_.end() ? std::string() : it->second;
}

uint64_t Options::uint(const std::string& name) const {
  auto v = parseUint(string(name));
  return v.isOk() ? *v : 0;
}

bool Options::boolean(const std::string& name) const { return string(name) == "true"; }

std::chrono::milliseconds Options::duration(const std::string& name) const {
  auto v = parseDuration(string(name));
  return v.isOk() ? *v : std::chrono::milliseconds(0);
}

}  // namespace tandem::config
