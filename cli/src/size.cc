#include "tandem/cli/size.h"

#include <array>
#include <cctype>
#include <charconv>
#include <cstdio>

namespace tandem::cli {
namespace {

struct Unit {
  std::string_view name;
  uint64_t multiplier;
};

constexpr uint64_t kKi = 1024;
constexpr std::array<Unit, 16> kUnits = {{
    {"", 1},
    {"b", 1},
    {"k", kKi},
    {"kib", kKi},
    {"kb", 1000},
    {"m", kKi * kKi},
    {"mib", kKi * kKi},
    {"mb", 1000 * 1000},
    {"g", kKi * kKi * kKi},
    {"gib", kKi * kKi * kKi},
    {"gb", 1000ULL * 1000 * 1000},
    {"t", kKi * kKi * kKi * kKi},
    {"tib", kKi * kKi * kKi * kKi},
    {"tb", 1000ULL * 1000 * 1000 * 1000},
    {"p", kKi * kKi * kKi * kKi * kKi},
    {"pib", kKi * kKi * kKi * kKi * kKi},
}};

Status bad(std::string_view text, std::string_view why) {
  return Status(ErrorCode::kInvalidArgument,
                "invalid size '" + std::string(text) + "': " + std::string(why));
}

bool isDigit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

Result<uint64_t> parseSize(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size() && isDigit(text[pos])) ++pos;
  std::string_view whole = text.substr(0, pos);
  std::string_view fraction;
  if (pos < text.size() && text[pos] == '.') {
    size_t start = ++pos;
    while (pos < text.size() && isDigit(text[pos])) ++pos;
    fraction = text.substr(start, pos - start);
    if (fraction.empty()) return bad(text, "expected digits after '.'");
    if (fraction.size() > 9) return bad(text, "at most 9 decimal places");
  }
  if (whole.empty()) return bad(text, "expected a number, e.g. 10GiB");
  std::string unit;
  for (char c : text.substr(pos)) unit.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  uint64_t multiplier = 0;
  for (const Unit& u : kUnits) {
    if (u.name == unit) multiplier = u.multiplier;
  }
  if (multiplier == 0) return bad(text, "unknown unit (use B, KiB, MiB, GiB, TiB, PiB, K, M, G, T, P, KB, MB, GB, TB)");

  uint64_t whole_value = 0;
  auto [end, ec] = std::from_chars(whole.data(), whole.data() + whole.size(), whole_value);
  if (ec == std::errc::result_out_of_range) return bad(text, "too large");
  if (ec != std::errc() || end != whole.data() + whole.size()) return bad(text, "not a number");

  uint64_t bytes = 0;
  if (__builtin_mul_overflow(whole_value, multiplier, &bytes)) return bad(text, "too large");
  if (!fraction.empty()) {
    uint64_t frac_value = 0;
    std::from_chars(fraction.data(), fraction.data() + fraction.size(), frac_value);
    uint64_t scale = 1;
    for (size_t i = 0; i < fraction.size(); ++i) scale *= 10;
    // frac_value < 10^9 and multiplier <= 2^50 can overflow 64 bits: use 128-bit arithmetic.
    unsigned __int128 scaled = static_cast<unsigned __int128>(frac_value) * multiplier;
    if (scaled % scale != 0) return bad(text, "not a whole number of bytes");
    unsigned __int128 extra = scaled / scale;
    if (extra > UINT64_MAX - bytes) return bad(text, "too large");
    bytes += static_cast<uint64_t>(extra);
  }
  if (bytes == 0) return bad(text, "must be larger than zero");
  return bytes;
}

std::string formatSize(uint64_t bytes) {
  static constexpr std::array<const char*, 6> kNames = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < 1024) return std::to_string(bytes) + " B";
  double value = static_cast<double>(bytes);
  size_t unit = 0;
  value /= 1024.0;
  while (value >= 1024.0 && unit + 1 < kNames.size()) {
    value /= 1024.0;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %s", value, kNames[unit]);
  return buf;
}

}  // namespace tandem::cli
