// The spec/status file codec shared by the manager and tandem-disk-fuse.
#include "tandem/attach/attachment_files.h"

#include <gtest/gtest.h>

namespace tandem::attach {
namespace {

// A spec survives encode/decode, for TCP and UNIX endpoints.
TEST(AttachmentFiles, SpecRoundTrips) {
  for (const NbdEndpoint& e :
       {NbdEndpoint::tcp("10.0.0.7", 10809, "vol-1"), NbdEndpoint::unixSocket("/run/x.sock", "v")}) {
    AttachmentSpecFile spec{"vol-1", 1ull << 30, e, 7, "0b0e2b5e-4c0a-4f43-9a86-3f1b7a0f5e11"};
    auto decoded = decodeSpec(encodeSpec(spec));
    ASSERT_TRUE(decoded.isOk()) << decoded.status().toString();
    EXPECT_EQ(*decoded, spec);
  }
}

// Missing fields, bad numbers and endpoints with both or no transports are refused.
// A spec written before the volume's uuid was kept decodes with an empty uuid (attachments made
// by an older node worker stay adoptable).
TEST(AttachmentFiles, SpecWithoutUuidDecodes) {
  auto decoded = decodeSpec(
      "volume=v\nsize=4096\nexport=v\ntcp_host=h\ntcp_port=1\nunix_path=\ngeneration=3\n");
  ASSERT_TRUE(decoded.isOk()) << decoded.status().toString();
  EXPECT_EQ(decoded->volume_uuid, "");
  EXPECT_EQ(decoded->generation, 3u);
}

TEST(AttachmentFiles, BadSpecsAreRefused) {
  std::string good = encodeSpec({"v", 4096, NbdEndpoint::tcp("h", 1, "v"), 1});
  EXPECT_TRUE(decodeSpec(good).isOk());
  EXPECT_FALSE(decodeSpec("volume=v\n").isOk());
  std::string bad_size = good;
  bad_size.replace(bad_size.find("size=4096"), 9, "size=4k");
  EXPECT_FALSE(decodeSpec(bad_size).isOk());
  EXPECT_FALSE(decodeSpec(encodeSpec({"v", 4096, NbdEndpoint{"h", 1, "/s", "v"}, 1})).isOk());
  EXPECT_FALSE(decodeSpec(encodeSpec({"v", 4096, NbdEndpoint{"", 0, "", "v"}, 1})).isOk());
  EXPECT_FALSE(validateEndpoint(NbdEndpoint::tcp("h", 0, "v")).isOk());
  EXPECT_FALSE(validateEndpoint(NbdEndpoint::tcp("h", 1, "a\nb")).isOk());
}

// Status round-trips; a newline in the error cannot split the file.
TEST(AttachmentFiles, StatusRoundTrips) {
  AttachmentStatusFile status{3, LinkState::kDisconnected, "connect: refused"};
  EXPECT_EQ(*decodeStatus(encodeStatus(status)), status);
  auto multi = decodeStatus(encodeStatus({4, LinkState::kConnected, "a\nstate=disconnected"}));
  ASSERT_TRUE(multi.isOk());
  EXPECT_EQ(multi->state, LinkState::kConnected);
  EXPECT_FALSE(decodeStatus("generation=1\nstate=sleepy\nerror=\n").isOk());
}

}  // namespace
}  // namespace tandem::attach
