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
