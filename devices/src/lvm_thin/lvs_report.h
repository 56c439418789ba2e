// Parsing of `lvs --reportformat json -o lv_name,lv_size,data_percent,pool_lv,origin,lv_attr
// --units b --nosuffix <vg>` output:
//   {"report": [{"lv": [{"lv_name":"pool0", "lv_size":"1073741824", "data_percent":"12.50",
//                        "pool_lv":"", "origin":"", "lv_attr":"twi-aotz--"}, ...]}]}
// Every value is a string; data_percent is "" for inactive LVs. Pure; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tandem/common/status.h"

namespace tandem::devices {

struct LvRow {
  std::string name;
  uint64_t size_bytes = 0;
  std::optional<double> data_percent;  // absent when LVM does not know (inactive LV)
  std::string pool_lv;
  std::string origin;
  std::string attr;
};

// kProtocol if the text is not such a report (the message quotes what was wrong).
Result<std::vector<LvRow>> parseLvsReport(std::string_view json);

}  // namespace tandem::devices
