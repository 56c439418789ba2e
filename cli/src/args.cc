#include "tandem/cli/args.h"

#include <set>
#include <string_view>

namespace tandem::cli {
namespace {

const std::set<std::string, std::less<>> kCommandValueOptions = {
    "replicas", "engine", "size", "group", "pools", "spread-by", "overprovision", "node", "quorum", "keep", "from",
    "snapshot", "host", "mode", "pool", "backing", "mount", "name", "target", "offset", "weights"};
const std::set<std::string, std::less<>> kCommandFlagOptions = {"thin",     "thick",          "force", "multiattach", "dry-run",
                                                                "nbd",      "progress",       "target-is-zero", "cancel"};

}  // namespace

Result<ParsedArgs> parseArgs(const std::vector<std::string>& args) {
  ParsedArgs out;
  bool flags_done = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (flags_done || arg.size() < 2 || arg[0] != '-') {
      out.words.push_back(arg);
      continue;
    }
    if (arg == "--") {
      flags_done = true;
      continue;
    }
    if (arg == "-h") {
      out.help = true;
      continue;
    }
    if (arg.rfind("--", 0) != 0) {
      return Status(ErrorCode::kInvalidArgument, "unknown option '" + arg + "'");
    }
    std::string name = arg.substr(2);
    std::optional<std::string> inline_value;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      inline_value = name.substr(eq + 1);
      name.resize(eq);
    }

    auto takeValue = [&]() -> Result<std::string> {
      if (inline_value) return *inline_value;
      if (i + 1 >= args.size()) {
        return Status(ErrorCode::kInvalidArgument, "option --" + name + " needs a value");
      }
      return args[++i];
    };
    auto noValue = [&]() -> Status {
      if (inline_value) {
        return Status(ErrorCode::kInvalidArgument, "option --" + name + " takes no value");
      }
      return Status::ok();
    };

    if (name == "url") {
      ASSIGN_OR_RETURN(out.url, takeValue());
    } else if (name == "token") {
      ASSIGN_OR_RETURN(out.token, takeValue());
    } else if (name == "ca-file") {
      ASSIGN_OR_RETURN(out.ca_file, takeValue());
    } else if (name == "config") {
      ASSIGN_OR_RETURN(out.config, takeValue());
    } else if (name == "insecure") {
      RETURN_IF_ERROR(noValue());
      out.insecure = true;
    } else if (name == "json") {
      RETURN_IF_ERROR(noValue());
      out.json = true;
    } else if (name == "help") {
      RETURN_IF_ERROR(noValue());
      out.help = true;
    } else if (kCommandValueOptions.count(name)) {
      ASSIGN_OR_RETURN(out.options[name], takeValue());
    } else if (kCommandFlagOptions.count(name)) {
      RETURN_IF_ERROR(noValue());
      out.options[name] = "";
    } else {
      return Status(ErrorCode::kInvalidArgument, "unknown option '--" + name + "'");
    }
  }
  return out;
}

}  // namespace tandem::cli
