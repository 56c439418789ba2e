// JsonWriter: a small facade over RapidJSON's Writer for building responses in order.
// Not thread-safe; one writer per document.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace tandem::json {

class JsonWriter {
 public:
  JsonWriter() : writer_(buffer_) {}
  JsonWriter& beginObject() { writer_.StartObject(); return *this; }
  JsonWriter& endObject() { writer_.EndObject(); return *this; }
  JsonWriter& beginArray() { writer_.StartArray(); return *this; }
  JsonWriter& endArray() { writer_.EndArray(); return *this; }
  JsonWriter& key(std::string_view k) {
    writer_.Key(k.data(), static_cast<rapidjson::SizeType>(k.size()));
    return *this;
  }
  JsonWriter& string(std::string_view v) {
    writer_.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
    return *this;
  }
  JsonWriter& uint64(uint64_t v) { writer_.Uint64(v); return *this; }
  JsonWriter& int64(int64_t v) { writer_.Int64(v); return *this; }
  JsonWriter& number(double v) { writer_.Double(v); return *this; }
  JsonWriter& boolean(bool v) { writer_.Bool(v); return *this; }
  JsonWriter& null() { writer_.Null(); return *this; }
  // Inserts already-serialized JSON as a value.
  JsonWriter& raw(std::string_view json) {
    writer_.RawValue(json.data(), json.size(), rapidjson::kObjectType);
    return *this;
  }
  // Shorthands for "key": value.
  JsonWriter& field(std::string_view k, std::string_view v) { return key(k).string(v); }
  JsonWriter& field(std::string_view k, const char* v) { return key(k).string(v); }
  JsonWriter& field(std::string_view k, const std::string& v) { return key(k).string(v); }
  JsonWriter& field(std::string_view k, uint64_t v) { return key(k).uint64(v); }
  JsonWriter& field(std::string_view k, bool v) { return key(k).boolean(v); }
  JsonWriter& field(std::string_view k, double v) { return key(k).number(v); }

  std::string str() const { return std::string(buffer_.GetString(), buffer_.GetSize()); }

 private:
  rapidjson::StringBuffer buffer_;
  rapidjson::Writer<rapidjson::StringBuffer> writer_;
};

}  // namespace tandem::json
