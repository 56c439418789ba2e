// Minimal structured-enough logging to stderr: "<time> <level> <component>: message".
// Thread-safe: each line is written with one write(2).
#pragma once

#include <string_view>

namespace tandem::log {

enum class Level { kDebug = 0, kInfo, kWarn, kError };

void setLevel(Level level);
Level level();
// Parses "debug|info|warn|error"; returns false for anything else.
bool parseLevel(std::string_view text, Level* out);
void write(Level level, std::string_view component, std::string_view message);

inline void debug(std::string_view c, std::string_view m) { write(Level::kDebug, c, m); }
inline void info(std::string_view c, std::string_view m) { write(Level::kInfo, c, m); }
inline void warn(std::string_view c, std::string_view m) { write(Level::kWarn, c, m); }
inline void error(std::string_view c, std::string_view m) { write(Level::kError, c, m); }

}  // namespace tandem::log
