#include "tandem/node/label_spec.h"

#include <gtest/gtest.h>

namespace tandem::node {
namespace {

TEST(LabelSpec, ParsesKeyValuePairs) {
  auto labels = parseLabels({"zone=a", "rack=r-12.3"});
  ASSERT_TRUE(labels.isOk()) << labels.status().toString();
  EXPECT_EQ(labels->size(), 2u);
  EXPECT_EQ(labels->at("zone"), "a");
  EXPECT_EQ(labels->at("rack"), "r-12.3");
  EXPECT_TRUE(parseLabels({})->empty());
}

TEST(LabelSpec, RefusesMalformedAndRepeatedLabels) {
  for (const char* bad : {"zone", "zone=", "=a", "zo ne=a", "zone=a,b", "-x=a"}) {
    auto r = parseLabels({bad});
    ASSERT_FALSE(r.isOk()) << bad;
    EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(bad), std::string::npos) << r.status().message();
  }
  auto twice = parseLabels({"zone=a", "zone=b"});
  ASSERT_FALSE(twice.isOk());
  EXPECT_EQ(twice.status().message(), "label 'zone' is given twice");
}

}  // namespace
}  // namespace tandem::node
