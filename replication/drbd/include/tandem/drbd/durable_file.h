// Durable small-file helpers for DRBD configuration files: errno becomes Status(kIo) here.
#pragma once

#include <optional>
#include <string>

#include "tandem/common/status.h"

namespace tandem::drbd {

// The file's contents; nullopt when it does not exist.
Result<std::optional<std::string>> readFileIfExists(const std::string& path);
// Creates or truncates `path`, writes `text` and fsyncs it.
Status writeFileSynced(const std::string& path, const std::string& text);
// rename(from, to), then fsync of the directory of `to`.
Status renameSynced(const std::string& from, const std::string& to);
// unlink; absent is fine. fsyncs the directory when something was removed.
Status removeFileSynced(const std::string& path);

}  // namespace tandem::drbd
