#include "tandem/cli/volume_pages.h"

#include <cctype>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace tandem::cli {
namespace {

// Percent-encodes a volume name for the query (names are [A-Za-z0-9_.-], so this is a guard).
std::string queryValue(const std::string& text) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace

Result<http::Response> listAllVolumes(ApiTransport& api) {
  rapidjson::Document all(rapidjson::kObjectType);
  rapidjson::Value volumes(rapidjson::kArrayType);
  std::string after;
  http::Response last;
  while (true) {
    std::string target = "/v1/volumes?limit=1000";
    if (!after.empty()) target += "&after=" + queryValue(after);
    ASSIGN_OR_RETURN(last, api.call("GET", target, ""));
    if (last.status < 200 || last.status > 299) return last;
    rapidjson::Document page;
    page.Parse(last.body.data(), last.body.size());
    if (page.HasParseError() || !page.IsObject() || !page.HasMember("volumes") || !page["volumes"].IsArray()) {
      return Status(ErrorCode::kProtocol, "GET " + target + ": the answer is not a page of volumes");
    }
    for (auto& v : page["volumes"].GetArray()) volumes.PushBack(rapidjson::Value(v, all.GetAllocator()), all.GetAllocator());
    if (!page.HasMember("next") || !page["next"].IsString()) break;
    std::string next = page["next"].GetString();
    if (next.empty() || next <= after) {
      return Status(ErrorCode::kProtocol, "GET " + target + ": the page cursor does not move on ('" + next + "')");
    }
    after = std::move(next);
  }
  all.AddMember("volumes", volumes, all.GetAllocator());
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  all.Accept(writer);
  last.status = 200;
  last.body = buffer.GetString();
  return last;
}

}  // namespace tandem::cli
