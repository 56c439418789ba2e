#include "json_error_body.h"

#include <cstdio>

namespace tandem::http {
namespace {

void appendEscaped(std::string& out, std::string_view text) {
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(ch);
        }
    }
  }
}

}  // namespace

std::string jsonErrorBody(std::string_view code, std::string_view message) {
  std::string out = "{\"error\":{\"code\":\"";
  appendEscaped(out, code);
  out += "\",\"message\":\"";
  appendEscaped(out, message);
  out += "\",\"details\":{}}}";
  return out;
}

}  // namespace tandem::http
