#include "zfs/zfs_list.h"

#include <charconv>

namespace tandem::devices {
namespace {

std::vector<std::string_view> splitTabs(std::string_view line) {
  std::vector<std::string_view> fields;
  size_t start = 0;
  for (;;) {
    size_t tab = line.find('\t', start);
    fields.push_back(
        line.substr(start, tab == std::string_view::npos ? std::string_view::npos : tab - start));
    if (tab == std::string_view::npos) break;
    start = tab + 1;
  }
  return fields;
}

bool parseBytes(std::string_view s, uint64_t* out) {
  if (s == "-") {
    *out = 0;
    return true;
  }
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size() && !s.empty();
}

}  // namespace

Result<std::vector<ZfsRow>> parseZfsList(std::string_view text) {
  std::vector<ZfsRow> rows;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    std::string_view line =
        text.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
    start = nl == std::string_view::npos ? text.size() : nl + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    auto f = splitTabs(line);
    if (f.size() != 5) {
      return Status(ErrorCode::kProtocol,
                    "unexpected zfs list line (want 5 tab-separated fields): '" + std::string(line) + "'");
    }
    ZfsRow row;
    row.name = std::string(f[0]);
    if (!parseBytes(f[1], &row.volsize) || !parseBytes(f[2], &row.used) ||
        !parseBytes(f[3], &row.referenced)) {
      return Status(ErrorCode::kProtocol,
                    "unexpected zfs list line (sizes must be exact bytes, -p): '" + std::string(line) + "'");
    }
    if (f[4] != "-") row.origin = std::string(f[4]);
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace tandem::devices
