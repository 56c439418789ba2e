// Typed, validating access to JSON objects (RapidJSON), with precise error messages.
// Every failure is kInvalidArgument with reason "malformed_json" or "invalid_field" and names the
// field path, e.g. "field 'size_bytes' must be a non-negative integer".
#pragma once

#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

#include "tandem/common/status.h"

namespace tandem::json {

// Parses `text`, which must be one JSON object.
Result<rapidjson::Document> parseObject(std::string_view text);

class ObjectReader {
 public:
  // `value` must outlive the reader. `prefix` is prepended to field names in messages ("pools[0].").
  explicit ObjectReader(const rapidjson::Value& value, std::string prefix = "")
      : value_(value), prefix_(std::move(prefix)) {}

  bool has(const char* field) const;
  Result<std::string> requiredString(const char* field) const;
  Result<std::optional<std::string>> optionalString(const char* field) const;
  Result<uint64_t> requiredUint64(const char* field) const;
  Result<std::optional<uint64_t>> optionalUint64(const char* field) const;
  Result<std::optional<bool>> optionalBool(const char* field) const;
  Result<std::optional<double>> optionalNumber(const char* field) const;
  Result<std::vector<std::string>> optionalStringArray(const char* field) const;
  // An object whose values are all strings (labels); absent → empty.
  Result<std::map<std::string, std::string>> optionalStringMap(const char* field) const;
  // The array's elements (each must be an object), or kInvalidArgument; absent → empty.
  Result<std::vector<const rapidjson::Value*>> optionalObjectArray(const char* field) const;
  // kInvalidArgument naming the first field not in `known`.
  Status rejectUnknownFields(std::initializer_list<std::string_view> known) const;

 private:
  Status fieldError(const char* field, std::string_view expected) const;
  const rapidjson::Value* find(const char* field) const;
  const rapidjson::Value& value_;
  std::string prefix_;
};

}  // namespace tandem::json
