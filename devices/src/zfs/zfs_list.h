// Parsing of `zfs list -Hp -o name,volsize,used,referenced,origin -t volume,snapshot ...`:
// one line per dataset, tab-separated, exact byte counts (-p), "-" for an absent value:
//   tank/tandem/vol1\t1073741824\t57344\t57344\t-
//   tank/tandem/vol1@s1\t1073741824\t0\t57344\t-
//   tank/tandem/c1\t1073741824\t8192\t57344\ttank/tandem/vol1@s1
// Pure; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tandem/common/status.h"

namespace tandem::devices {

struct ZfsRow {
  std::string name;      // full name: pool/dataset/vol or pool/dataset/vol@snap
  uint64_t volsize = 0;  // 0 when "-"
  uint64_t used = 0;
  uint64_t referenced = 0;
  std::string origin;  // "" when "-"
};

// kProtocol for a line without 5 fields or with a non-numeric size.
Result<std::vector<ZfsRow>> parseZfsList(std::string_view text);

}  // namespace tandem::devices
