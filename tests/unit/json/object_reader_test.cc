#include "tandem/json/object_reader.h"

#include <gtest/gtest.h>

#include "tandem/json/writer.h"

namespace tandem::json {
namespace {

// Only a single JSON object is accepted as a body; the parse error names the offset.
TEST(ParseObject, AcceptsOnlyOneObject) {
  EXPECT_TRUE(parseObject(R"({"a":1})").isOk());
  auto trailing = parseObject(R"({"a":1} {"b":2})");
  ASSERT_FALSE(trailing.isOk());
  EXPECT_EQ(trailing.status().reason(), "malformed_json");
  auto broken = parseObject(R"({"a":)");
  ASSERT_FALSE(broken.isOk());
  EXPECT_NE(broken.status().message().find("offset"), std::string::npos);
  EXPECT_EQ(parseObject("[1]").status().reason(), "malformed_json");
}

// A field given twice is ambiguous: refused at any depth, naming the field.
TEST(ParseObject, RefusesDuplicateFields) {
  auto top = parseObject(R"({"size_bytes":1,"name":"v","size_bytes":2})");
  ASSERT_FALSE(top.isOk());
  EXPECT_EQ(top.status().reason(), "malformed_json");
  EXPECT_EQ(top.status().message(), "duplicate field 'size_bytes' in JSON object");
  auto nested = parseObject(R"({"pools":[{"name":"a"},{"name":"b","name":"c"}]})");
  ASSERT_FALSE(nested.isOk());
  EXPECT_EQ(nested.status().message(), "duplicate field 'name' in JSON object");
  EXPECT_TRUE(parseObject(R"({"a":{"x":1},"b":{"x":1}})").isOk());
}

// A map of strings (labels): every value must be a string.
TEST(ObjectReader, StringMap) {
  auto doc = parseObject(R"({"labels":{"zone":"a","rack":"r1"},"bad":{"zone":1},"arr":[]})");
  ASSERT_TRUE(doc.isOk());
  ObjectReader r(*doc);
  auto labels = r.optionalStringMap("labels");
  ASSERT_TRUE(labels.isOk());
  EXPECT_EQ(labels->size(), 2u);
  EXPECT_EQ(labels->at("zone"), "a");
  EXPECT_EQ(r.optionalStringMap("bad").status().message(), "field 'bad.zone' must be a string");
  EXPECT_EQ(r.optionalStringMap("arr").status().message(), "field 'arr' must be an object of strings");
  EXPECT_TRUE(r.optionalStringMap("absent")->empty());
}

// Typed accessors reject wrong types with the field's full path in the message.
TEST(ObjectReader, TypedAccessorsNameTheField) {
  auto doc = parseObject(R"({"n":-1,"s":5,"b":"yes","arr":["x",1],"ok":7})");
  ASSERT_TRUE(doc.isOk());
  ObjectReader r(*doc, "outer.");
  auto n = r.requiredUint64("n");
  ASSERT_FALSE(n.isOk());
  EXPECT_EQ(n.status().message(), "field 'outer.n' must be a non-negative integer");
  EXPECT_EQ(r.requiredString("s").status().reason(), "invalid_field");
  EXPECT_FALSE(r.optionalBool("b").isOk());
  EXPECT_FALSE(r.optionalStringArray("arr").isOk());
  EXPECT_EQ(r.requiredString("missing").status().reason(), "missing_field");
  EXPECT_EQ(*r.requiredUint64("ok"), 7u);
  EXPECT_FALSE(r.optionalUint64("absent")->has_value());
  Status unknown = r.rejectUnknownFields({"n", "s", "b", "arr"});
  EXPECT_EQ(unknown.reason(), "unknown_field");
  EXPECT_NE(unknown.message().find("outer.ok"), std::string::npos);
}

// The writer escapes strings so that any name round-trips through the reader.
TEST(JsonWriter, EscapesAndRoundTrips) {
  JsonWriter w;
  w.beginObject().field("name", std::string("a\"b\\c\n")).field("size", uint64_t{1} << 40).endObject();
  auto doc = parseObject(w.str());
  ASSERT_TRUE(doc.isOk()) << w.str();
  ObjectReader r(*doc);
  EXPECT_EQ(*r.requiredString("name"), "a\"b\\c\n");
  EXPECT_EQ(*r.requiredUint64("size"), uint64_t{1} << 40);
}

}  // namespace
}  // namespace tandem::json
