#include <algorithm>
#include <array>
#include <cctype>
#include <utility>

#include "tandem/devices/command_runner.h"

namespace tandem::devices {
namespace {

bool containsNoCase(std::string_view haystack, std::string_view needle) {
  auto it = std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end(), [](char a, char b) {
    return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
  });
  return it != haystack.end();
}

}  // namespace

ErrorCode classifyToolError(std::string_view err) {
  static constexpr std::array<std::pair<std::string_view, ErrorCode>, 13> kPatterns{{
      {"already exists", ErrorCode::kAlreadyExists},
      {"not found", ErrorCode::kNotFound},
      {"does not exist", ErrorCode::kNotFound},
      {"failed to find", ErrorCode::kNotFound},
      {"no such", ErrorCode::kNotFound},
      {"insufficient free space", ErrorCode::kNoSpace},
      {"out of space", ErrorCode::kNoSpace},
      {"no space left", ErrorCode::kNoSpace},
      {"insufficient suitable", ErrorCode::kNoSpace},
      {"dependent clones", ErrorCode::kConflict},
      {"has children", ErrorCode::kConflict},
      {"busy", ErrorCode::kConflict},
      {"in use", ErrorCode::kConflict},
  }};
  for (const auto& [pattern, code] : kPatterns) {
    if (containsNoCase(err, pattern)) return code;
  }
  return ErrorCode::kIo;
}

Result<CommandOutput> runChecked(CommandRunner& runner, const std::vector<std::string>& argv) {
  auto out = runner.run(argv);
  if (!out.isOk()) return out.status().withContext("run `" + formatCommandLine(argv) + "`");
  if (out->exit_code != 0) return commandFailed(classifyToolError(out->stderr_text), argv, *out);
  return out;
}

}  // namespace tandem::devices
