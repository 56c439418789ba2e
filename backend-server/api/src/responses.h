// Building blocks of the handlers' responses: JSON bodies, 204, the 405 with its Allow header,
// and query parameters. Errors become responses only through error_response.h.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "error_response.h"
#include "tandem/common/status.h"
#include "tandem/http/message.h"
#include "tandem/json/writer.h"

namespace tandem::controller {

http::Response jsonResponse(int status, std::string body);
// 204 without a body or Content-Type.
http::Response noContent();
// 405 method_not_allowed for `method` on `path`, with the Allow header RFC 9110 requires.
http::Response methodNotAllowed(const std::string& method, const std::string& path, const std::string& allow);
// 204, or the error.
http::Response noContentOr(const Status& status);

// The query parameter `key` as an unsigned integer; `fallback` when absent or empty.
// kInvalidArgument (reason invalid_query) for anything else.
Result<uint64_t> queryUint(const http::Request& req, const std::string& key, uint64_t fallback);
// The query parameter `key` as a boolean ("true"/"false"; absent or empty: false).
// kInvalidArgument (reason invalid_query) for anything else.
Result<bool> queryBool(const http::Request& req, const std::string& key);

// {"<key>": [each item as `write` renders it]}, or the error.
template <typename T, typename Write>
http::Response listResponse(const Result<std::vector<T>>& items, std::string_view key, Write write) {
  if (!items.isOk()) return errorResponse(items.status());
  json::JsonWriter w;
  w.beginObject().key(key).beginArray();
  for (const auto& item : *items) write(w, item);
  w.endArray().endObject();
  return jsonResponse(200, w.str());
}

// One object as `write` renders it, or the error.
template <typename T, typename Write>
http::Response objectResponse(const Result<T>& item, Write write) {
  if (!item.isOk()) return errorResponse(item.status());
  json::JsonWriter w;
  write(w, *item);
  return jsonResponse(200, w.str());
}

// The object of an idempotent create: 201 when made now, 200 when it already existed.
template <typename T, typename Write>
http::Response createdResponse(const Result<std::pair<T, bool>>& created, Write write) {
  if (!created.isOk()) return errorResponse(created.status());
  json::JsonWriter w;
  write(w, created->first);
  return jsonResponse(created->second ? 201 : 200, w.str());
}

}  // namespace tandem::controller
