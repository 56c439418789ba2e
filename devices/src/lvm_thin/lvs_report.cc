#include "lvm_thin/lvs_report.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <charconv>

namespace tandem::devices {
namespace {

Status bad(const std::string& what) { return Status(ErrorCode::kProtocol, "unexpected lvs report: " + what); }

std::string field(const rapidjson::Value& lv, const char* key) {
  auto it = lv.FindMember(key);
  if (it == lv.MemberEnd() || !it->value.IsString()) return {};
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

}  // namespace

Result<std::vector<LvRow>> parseLvsReport(std::string_view json) {
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError()) {
    return bad(std::string("JSON error at offset ") + std::to_string(doc.GetErrorOffset()) + ": " +
               rapidjson::GetParseError_En(doc.GetParseError()));
  }
  if (!doc.IsObject() || !doc.HasMember("report") || !doc["report"].IsArray()) {
    return bad("no \"report\" array");
  }
  std::vector<LvRow> rows;
  for (const auto& report : doc["report"].GetArray()) {
    if (!report.IsObject()) return bad("a report entry is not an object");
    auto lvs = report.FindMember("lv");
    if (lvs == report.MemberEnd()) continue;  // a report of another kind (e.g. "vg")
    if (!lvs->value.IsArray()) return bad("\"lv\" is not an array");
    for (const auto& lv : lvs->value.GetArray()) {
      if (!lv.IsObject()) return bad("an \"lv\" entry is not an object");
      LvRow row;
      row.name = field(lv, "lv_name");
      if (row.name.empty()) return bad("an LV without lv_name");
      std::string size = field(lv, "lv_size");
      auto [end, ec] = std::from_chars(size.data(), size.data() + size.size(), row.size_bytes);
      if (ec != std::errc() || end != size.data() + size.size()) {
        return bad("lv_size '" + size + "' of " + row.name + " is not a byte count (--units b --nosuffix)");
      }
      std::string pct = field(lv, "data_percent");
      if (!pct.empty()) {
        double value = 0;
        auto [pend, pec] = std::from_chars(pct.data(), pct.data() + pct.size(), value);
        if (pec != std::errc() || pend != pct.data() + pct.size()) {
          return bad("data_percent '" + pct + "' of " + row.name + " is not a number");
        }
        row.data_percent = value;
      }
      row.pool_lv = field(lv, "pool_lv");
      row.origin = field(lv, "origin");
      row.attr = field(lv, "lv_attr");
      rows.push_back(std::move(row));
    }
  }
  return rows;
}

}  // namespace tandem::devices
