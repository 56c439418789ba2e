// The pure pieces of the volume data routes: Range / Content-Range parsing and the copy loops
// over a memory VolumePort that records its calls.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <set>

#include "tandem/controller/byte_range.h"
#include "tandem/controller/volume_copy.h"

namespace tandem::controller {
namespace {

constexpr uint64_t kMiB = 1 << 20;

// GET ranges: whole volume without a header; a-b, a-, -n; clipped ends; errors by reason.
TEST(VolumeDataRange, GetRangesParseLikeRfc9110) {
  auto whole = parseRangeHeader("", 1000);
  ASSERT_TRUE(whole.isOk());
  EXPECT_EQ(whole->range, (ByteRange{0, 1000}));
  EXPECT_FALSE(whole->partial);
  EXPECT_EQ(parseRangeHeader("bytes=10-19", 1000)->range, (ByteRange{10, 20}));
  EXPECT_TRUE(parseRangeHeader("bytes=10-19", 1000)->partial);
  EXPECT_EQ(parseRangeHeader("bytes=900-", 1000)->range, (ByteRange{900, 1000}));
  EXPECT_EQ(parseRangeHeader("bytes=900-5000", 1000)->range, (ByteRange{900, 1000}));
  EXPECT_EQ(parseRangeHeader("bytes=-100", 1000)->range, (ByteRange{900, 1000}));
  EXPECT_EQ(parseRangeHeader("bytes=-5000", 1000)->range, (ByteRange{0, 1000}));
  EXPECT_EQ(parseRangeHeader("bytes=1000-", 1000).status().reason(), "range_not_satisfiable");
  EXPECT_EQ(parseRangeHeader("bytes=-0", 1000).status().reason(), "range_not_satisfiable");
  for (const char* bad : {"bytes=1-2,4-5", "items=1-2", "bytes=x-2", "bytes=5-1", "bytes=", "bytes=--1", "bytes=+1-2"}) {
    EXPECT_EQ(parseRangeHeader(bad, 1000).status().reason(), "invalid_range") << bad;
  }
}

// PUT ranges: the whole volume needs exactly its size; parts need a Content-Range that agrees
// with Content-Length and the volume; more than the volume is body_exceeds_volume.
TEST(VolumeDataRange, PutRangesAreSizeChecked) {
  EXPECT_EQ(*parsePutRange("", 1000, 1000), (ByteRange{0, 1000}));
  EXPECT_EQ(parsePutRange("", 1001, 1000).status().reason(), "body_exceeds_volume");
  EXPECT_EQ(parsePutRange("", 1001, 1000).status().code(), ErrorCode::kTooLarge);
  EXPECT_EQ(parsePutRange("", 999, 1000).status().reason(), "length_mismatch");
  EXPECT_EQ(parsePutRange("", std::nullopt, 1000).status().reason(), "length_required");
  EXPECT_EQ(*parsePutRange("bytes 100-199/1000", 100, 1000), (ByteRange{100, 200}));
  EXPECT_EQ(*parsePutRange("bytes 100-199/*", 100, 1000), (ByteRange{100, 200}));
  EXPECT_EQ(parsePutRange("bytes 100-199/1000", 99, 1000).status().reason(), "length_mismatch");
  EXPECT_EQ(parsePutRange("bytes 900-1000/1000", 101, 1000).status().reason(), "body_exceeds_volume");
  EXPECT_EQ(parsePutRange("bytes 0-9/2000", 10, 1000).status().reason(), "size_mismatch");
  for (const char* bad : {"bytes 9-0/1000", "bytes=0-9/1000", "bytes 0-9", "bytes a-9/1000", "bytes 0-9/x"}) {
    EXPECT_EQ(parsePutRange(bad, 10, 1000).status().reason(), "invalid_range") << bad;
  }
  EXPECT_EQ(contentRange(ByteRange{100, 200}, 1000), "bytes 100-199/1000");
  EXPECT_EQ(parseContentLength(" 42 "), 42u);
  EXPECT_FALSE(parseContentLength("-1").has_value());
  EXPECT_FALSE(parseContentLength("99999999999999999999999").has_value());
}

// A volume in memory with holes; counts what the copy loops ask of it.
class MemoryPort final : public VolumePort {
 public:
  explicit MemoryPort(uint64_t size) : data_(size) {}
  uint64_t sizeBytes() const override { return data_.size(); }
  Result<std::vector<devices::Extent>> extents(uint64_t offset, uint64_t length) override {
    RETURN_IF_ERROR(devices::checkRange(offset, length, data_.size()));
    std::vector<devices::Extent> out;
    for (uint64_t at = offset; at < offset + length;) {
      bool hole = holes_.count(at / kMiB) != 0;
      uint64_t n = std::min(offset + length, (at / kMiB + 1) * kMiB) - at;
      if (!out.empty() && out.back().hole == hole) {
        out.back().length += n;
      } else {
        out.push_back({n, hole});
      }
      at += n;
    }
    return out;
  }
  Status read(uint64_t offset, std::span<std::byte> out) override {
    RETURN_IF_ERROR(devices::checkRange(offset, out.size(), data_.size()));
    for (uint64_t at = offset; at < offset + out.size(); at += kMiB) {
      EXPECT_EQ(holes_.count(at / kMiB), 0u) << "read a hole at " << at;
    }
    read_bytes_ += out.size();
    std::copy_n(data_.begin() + static_cast<std::ptrdiff_t>(offset), out.size(), out.begin());
    return Status::ok();
  }
  Status write(uint64_t offset, std::span<const std::byte> data) override {
    RETURN_IF_ERROR(devices::checkRange(offset, data.size(), data_.size()));
    written_bytes_ += data.size();
    std::copy(data.begin(), data.end(), data_.begin() + static_cast<std::ptrdiff_t>(offset));
    return Status::ok();
  }
  Status zero(uint64_t offset, uint64_t length) override {
    RETURN_IF_ERROR(devices::checkRange(offset, length, data_.size()));
    zeroed_bytes_ += length;
    std::fill_n(data_.begin() + static_cast<std::ptrdiff_t>(offset), length, std::byte{0});
    return Status::ok();
  }
  Status flush() override {
    ++flushes_;
    return Status::ok();
  }

  std::vector<std::byte> data_;
  std::set<uint64_t> holes_;  // MiB indexes that are holes (read as zeroes)
  uint64_t read_bytes_ = 0, written_bytes_ = 0, zeroed_bytes_ = 0;
  int flushes_ = 0;
};

// copyOut sends every byte of the range in order, zeroes for holes without reading them.
TEST(VolumeDataCopy, CopyOutSendsHolesAsZeroesWithoutReadingThem) {
  MemoryPort port(8 * kMiB);
  for (uint64_t i = 0; i < port.data_.size(); ++i) port.data_[i] = static_cast<std::byte>(i % 249 + 1);
  for (uint64_t m : {0, 3, 4, 7}) {
    port.holes_.insert(m);
    std::fill_n(port.data_.begin() + static_cast<std::ptrdiff_t>(m * kMiB), kMiB, std::byte{0});
  }
  std::vector<std::byte> out;
  ByteRange range{kMiB / 2, 7 * kMiB + 10};
  ASSERT_TRUE(copyOut(port, range, [&](std::span<const std::byte> piece) {
                out.insert(out.end(), piece.begin(), piece.end());
                return Status::ok();
              }).isOk());
  ASSERT_EQ(out.size(), range.length());
  EXPECT_TRUE(std::equal(out.begin(), out.end(), port.data_.begin() + static_cast<std::ptrdiff_t>(range.begin)));
  EXPECT_EQ(port.read_bytes_, 4 * kMiB);  // MiB 1, 2, 5, 6; the holes were never read
  // A sink error stops the copy and is returned.
  Status stopped = copyOut(port, range, [](std::span<const std::byte>) { return Status(ErrorCode::kUnavailable, "gone"); });
  EXPECT_EQ(stopped.code(), ErrorCode::kUnavailable);
}

// A source of `data` in pieces of `piece` bytes.
ByteSource sourceOf(const std::vector<std::byte>& data, size_t piece) {
  auto at = std::make_shared<size_t>(0);
  return [&data, piece, at](std::span<std::byte> out) -> Result<size_t> {
    size_t n = std::min({out.size(), piece, data.size() - *at});
    std::copy_n(data.begin() + static_cast<std::ptrdiff_t>(*at), n, out.begin());
    *at += n;
    return n;
  };
}

// copyIn writes the range; zero blocks become zero requests where the volume holds data and
// nothing over its holes; then one flush.
TEST(VolumeDataCopy, CopyInWritesZeroBlocksAsZeroRequestsExceptOverHoles) {
  MemoryPort port(8 * kMiB);
  std::fill(port.data_.begin(), port.data_.end(), std::byte{0x77});
  port.holes_.insert(3);  // volume MiB 3 (inside the body's zero run [2, 4) MiB) is a hole
  std::fill_n(port.data_.begin() + 3 * kMiB, kMiB, std::byte{0});
  std::vector<std::byte> body(5 * kMiB + 100);
  for (size_t i = 0; i < body.size(); ++i) body[i] = static_cast<std::byte>(i % 13 + 1);
  std::fill_n(body.begin() + kMiB, 2 * kMiB, std::byte{0});        // 2 MiB of zeroes
  std::fill_n(body.begin() + 4 * kMiB + 4096, 8192, std::byte{0});  // two zero blocks
  ByteRange range{kMiB, kMiB + body.size()};
  auto stats = copyIn(sourceOf(body, 70000), port, range);
  ASSERT_TRUE(stats.isOk()) << stats.status().toString();
  EXPECT_EQ(stats->bytes, body.size());
  EXPECT_EQ(stats->zero_bytes, 2 * kMiB + 8192);
  EXPECT_EQ(port.zeroed_bytes_, kMiB + 8192);
  EXPECT_EQ(port.written_bytes_, body.size() - stats->zero_bytes);
  EXPECT_EQ(port.flushes_, 1);
  EXPECT_TRUE(std::equal(body.begin(), body.end(), port.data_.begin() + kMiB));
  EXPECT_EQ(port.data_[kMiB - 1], std::byte{0x77});                 // nothing before the range
  EXPECT_EQ(port.data_[range.end], std::byte{0x77});                // nor after it
}

// A source shorter than the range is body_too_short; a longer one body_exceeds_volume with
// nothing past the range written and no flush claimed.
TEST(VolumeDataCopy, CopyInRefusesShortAndLongBodies) {
  MemoryPort port(4 * kMiB);
  std::vector<std::byte> body(kMiB, std::byte{5});
  auto short_body = copyIn(sourceOf(body, 4096), port, ByteRange{0, 2 * kMiB});
  EXPECT_EQ(short_body.status().reason(), "body_too_short");
  MemoryPort other(4 * kMiB);
  auto long_body = copyIn(sourceOf(body, 4096), other, ByteRange{0, kMiB - 1});
  EXPECT_EQ(long_body.status().reason(), "body_exceeds_volume");
  EXPECT_EQ(other.data_[kMiB - 1], std::byte{0});
  EXPECT_EQ(other.flushes_, 0);
}

}  // namespace
}  // namespace tandem::controller
