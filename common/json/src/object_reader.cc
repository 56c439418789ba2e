#include "tandem/json/object_reader.h"

#include <rapidjson/error/en.h>

#include <algorithm>
#include <vector>

namespace tandem::json {
namespace {

// RapidJSON keeps every member of an object, so {"size_bytes":1,"size_bytes":2} would parse and
// FindMember would silently pick the first. A request that says two things is refused instead.
// Returns the first duplicated name found (depth first), or nullopt.
std::optional<std::string> findDuplicateKey(const rapidjson::Value& v) {
  if (v.IsObject()) {
    std::vector<std::string_view> names;
    names.reserve(v.MemberCount());
    for (const auto& m : v.GetObject()) {
      names.emplace_back(m.name.GetString(), m.name.GetStringLength());
      if (auto inner = findDuplicateKey(m.value)) return inner;
    }
    std::sort(names.begin(), names.end());
    auto dup = std::adjacent_find(names.begin(), names.end());
    if (dup != names.end()) return std::string(*dup);
  } else if (v.IsArray()) {
    for (const auto& e : v.GetArray()) {
      if (auto inner = findDuplicateKey(e)) return inner;
    }
  }
  return std::nullopt;
}

}  // namespace

Result<rapidjson::Document> parseObject(std::string_view text) {
  rapidjson::Document doc;
  doc.Parse(text.data(), text.size());
  if (doc.HasParseError()) {
    return Status(ErrorCode::kInvalidArgument,
                  std::string("malformed JSON at offset ") + std::to_string(doc.GetErrorOffset()) + ": " +
                      rapidjson::GetParseError_En(doc.GetParseError()))
        .withReason("malformed_json");
  }
  if (!doc.IsObject()) {
    return Status(ErrorCode::kInvalidArgument, "request body must be a JSON object").withReason("malformed_json");
  }
  if (auto dup = findDuplicateKey(doc)) {
    return Status(ErrorCode::kInvalidArgument, "duplicate field '" + dup->substr(0, 80) + "' in JSON object")
        .withReason("malformed_json");
  }
  return doc;
}

const rapidjson::Value* ObjectReader::find(const char* field) const {
  if (!value_.IsObject()) return nullptr;
  auto it = value_.FindMember(field);
  if (it == value_.MemberEnd() || it->value.IsNull()) return nullptr;
  return &it->value;
}

bool ObjectReader::has(const char* field) const { return find(field) != nullptr; }

Status ObjectReader::fieldError(const char* field, std::string_view expected) const {
  return Status(ErrorCode::kInvalidArgument,
                "field '" + prefix_ + field + "' must be " + std::string(expected))
      .withReason("invalid_field");
}

Result<std::string> ObjectReader::requiredString(const char* field) const {
  const rapidjson::Value* v = find(field);
  if (v == nullptr) {
    return Status(ErrorCode::kInvalidArgument, "field '" + prefix_ + field + "' is required")
        .withReason("missing_field");
  }
  if (!v->IsString()) return fieldError(field, "a string");
  return std::string(v->GetString(), v->GetStringLength());
}

Result<std::optional<std::string>> ObjectReader::optionalString(const char* field) const {
  const rapidjson::Value* v = find(field);
  if (v == nullptr) return std::optional<std::string>();
  if (!v->IsString()) return fieldError(field, "a string");
  return std::optional<std::string>(std::string(v->GetString(), v->GetStringLength()));
}

Result<uint64_t> ObjectReader::requiredUint64(const char* field) const {
  ASSIGN_OR_RETURN(std::optional<uint64_t> v, optionalUint64(field));
  if (!v) {
    return Status(ErrorCode::kInvalidArgument, "field '" + prefix_ + field + "' is required")
        .withReason("missing_field");
  }
  return *v;
}

Result<std::optional<uint64_t>> ObjectReader::optionalUint64(const char* field) const {
  const rapidjson::Value* v = find(field);
  if (v == nullptr) return std::optional<uint64_t>();
  if (!v->IsUint64()) return fieldError(field, "a non-negative integer");
  return std::optional<uint64_t>(v->GetUint64());
}

Result<std::optional<bool>> ObjectReader::optionalBool(const char* field) const {
  const rapidjson::Value* v = find(field);
  if (v == nullptr) return std::optional<bool>();
  if (!v->IsBool()) return fieldError(field, "true or false");
  return std::optional<bool>(v->GetBool());
}

Result<std::map<std::string, std::string>> ObjectReader::optionalStringMap(const char* field) const {
  std::map<std::string, std::string> out;
  const rapidjson::Value* v = find(field);
  if (v == nullptr) return out;
  if (!v->IsObject()) return fieldError(field, "an object of strings");
  for (const auto& m : v->GetObject()) {
    std::string key(m.name.GetString(), m.name.GetStringLength());
    if (!m.value.IsString()) {
      return Status(ErrorCode::kInvalidArgument,
                    "field '" + prefix_ + field + "." + key.substr(0, 80) + "' must be a string")
          .withReason("invalid_field");
    }
    out[key] = std::string(m.value.GetString(), m.value.GetStringLength());
  }
  return out;
}

Result<std::optional<double>> ObjectReader::optionalNumber(const char* field) const {
  const rapidjson::Value* v = find(field);
  if (v == nullptr) return std::optional<double>();
  if (!v->IsNumber()) return fieldError(field, "a number");
  return std::optional<double>(v->GetDouble());
}

Result<std::vector<std::string>> ObjectReader::optionalStringArray(const char* field) const {
  const rapidjson::Value* v = find(field);
  std::vector<std::string> out;
  if (v == nullptr) return out;
  if (!v->IsArray()) return fieldError(field, "an array of strings");
  for (const auto& item : v->GetArray()) {
    if (!item.IsString()) return fieldError(field, "an array of strings");
    out.emplace_back(item.GetString(), item.GetStringLength());
  }
  return out;
}

Result<std::vector<const rapidjson::Value*>> ObjectReader::optionalObjectArray(const char* field) const {
  const rapidjson::Value* v = find(field);
  std::vector<const rapidjson::Value*> out;
  if (v == nullptr) return out;
  if (!v->IsArray()) return fieldError(field, "an array of objects");
  for (const auto& item : v->GetArray()) {
    if (!item.IsObject()) return fieldError(field, "an array of objects");
    out.push_back(&item);
  }
  return out;
}

Status ObjectReader::rejectUnknownFields(std::initializer_list<std::string_view> known) const {
  if (!value_.IsObject()) return Status::ok();
  for (const auto& m : value_.GetObject()) {
    std::string_view name(m.name.GetString(), m.name.GetStringLength());
    bool ok = false;
    for (auto k : known) ok = ok || k == name;
    if (!ok) {
      return Status(ErrorCode::kInvalidArgument, "unknown field '" + prefix_ + std::string(name) + "'")
          .withReason("unknown_field");
    }
  }
  return Status::ok();
}

}  // namespace tandem::json
