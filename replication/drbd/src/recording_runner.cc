#include "tandem/drbd/recording_runner.h"

#include <fstream>

namespace tandem::drbd {

std::string RecordingCommandRunner::encode(const std::vector<std::string>& argv) {
  std::string line;
  for (size_t i = 0; i < argv.size(); ++i) {
    if (i) line += '\t';
    for (char c : argv[i]) {
      if (c == '\t') {
        line += "\\t";
      } else if (c == '\n') {
        line += "\\n";
      } else if (c == '\\') {
        line += "\\\\";
      } else {
        line += c;
      }
    }
  }
  return line;
}

Result<devices::CommandOutput> RecordingCommandRunner::run(const std::vector<std::string>& argv) {
  std::lock_guard lock(mu_);
  std::ofstream out(path_, std::ios::app);
  out << encode(argv) << '\n';
  out.flush();
  if (!out) return Status(ErrorCode::kIo, "cannot record the command in " + path_);
  return devices::CommandOutput{0, "", ""};
}

}  // namespace tandem::drbd
