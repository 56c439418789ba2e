// Rendering a volume's .res file (resource_spec.h).
#include <gtest/gtest.h>

#include "drbd_test_support.h"
#include "tandem/drbd/resource_spec.h"

namespace tandem::drbd {
namespace {

using testing::makeSpec;

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// Three voters: quorum majority with io-error, protocol C, auto-promote, the secret, the mesh and
// one `on` section per host with node-id, address, minor, disk and internal metadata.
TEST(DrbdRender, ThreeReplicasGetQuorumAndEverySection) {
  auto text = renderResource(makeSpec("vol1", 1000, 3, 0));
  ASSERT_TRUE(text.isOk()) << text.status().toString();
  for (const char* part : {"resource \"vol1\" {", "auto-promote yes;", "quorum majority;", "on-no-quorum io-error;",
                           "protocol C;", "cram-hmac-alg sha256;", "shared-secret \"secret-vol1\";",
                           "on \"n2\" {\n    node-id 1;\n    address ipv4 10.0.0.2:7000;\n    volume 0 {\n"
                           "      device minor 1000;\n      disk \"/dev/tandem/vol1\";\n      meta-disk internal;",
                           "connection-mesh {\n    hosts \"n1\" \"n2\" \"n3\";"}) {
    EXPECT_TRUE(has(*text, part)) << part << "\n" << *text;
  }
}

// Two diskful replicas alone have no quorum; with a diskless tie-breaker they do, and the
// tie-breaker's section has `disk none` and no metadata.
TEST(DrbdRender, TwoReplicasNeedATieBreakerForQuorum) {
  auto two = renderResource(makeSpec("v", 1000, 2, 0));
  ASSERT_TRUE(two.isOk());
  EXPECT_FALSE(has(*two, "quorum"));
  auto tie = renderResource(makeSpec("v", 1000, 2, 1));
  ASSERT_TRUE(tie.isOk());
  EXPECT_TRUE(has(*tie, "quorum majority;"));
  EXPECT_TRUE(has(*tie, "on \"d1\" {\n    node-id 2;\n    address ipv4 10.0.1.1:7000;\n    volume 0 {\n"
                        "      device minor 1000;\n      disk none;\n    }"))
      << *tie;
}

// IPv6 addresses are bracketed; the same spec renders the same bytes.
TEST(DrbdRender, Ipv6AndDeterministic) {
  auto spec = makeSpec("v", 1000, 1, 0);
  spec.hosts[0].address = "fd00::1";
  auto a = renderResource(spec);
  ASSERT_TRUE(a.isOk());
  EXPECT_TRUE(has(*a, "address ipv6 [fd00::1]:7000;"));
  EXPECT_EQ(*a, *renderResource(spec));
}

// What would break the file's syntax is refused before drbdadm sees it.
TEST(DrbdRender, RefusesTextThatBreaksTheFile) {
  auto quote = makeSpec("v", 1000, 1, 0);
  quote.hosts[0].backing_device = "/dev/x\";";
  EXPECT_EQ(renderResource(quote).status().code(), ErrorCode::kInvalidArgument);
  auto space = makeSpec("v w", 1000, 1, 0);
  EXPECT_EQ(renderResource(space).status().code(), ErrorCode::kInvalidArgument);
  auto none = makeSpec("v", 1000, 0, 0);
  EXPECT_EQ(renderResource(none).status().code(), ErrorCode::kInvalidArgument);
  auto secret = makeSpec("v", 1000, 1, 0);
  secret.shared_secret.clear();
  EXPECT_EQ(renderResource(secret).status().code(), ErrorCode::kInvalidArgument);
  auto port = makeSpec("v", 1000, 1, 0, 70000);
  EXPECT_EQ(renderResource(port).status().code(), ErrorCode::kInvalidArgument);
  auto peers = makeSpec("v", 1000, 1, 0);
  peers.max_peers = 32;
  EXPECT_EQ(renderResource(peers).status().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace tandem::drbd
