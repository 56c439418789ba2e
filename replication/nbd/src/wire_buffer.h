// ByteWriter / ByteReader: big-endian append and bounds-checked consume over byte buffers for
// the NBD codec (the conversion itself is tandem/common/big_endian.h). Private to the NBD codec.
// Thread-safety: plain values, no sharing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tandem/common/big_endian.h"

namespace tandem::nbd {

class ByteWriter {
 public:
  explicit ByteWriter(std::vector<std::byte>& out) : out_(out) {}
  void u16(uint16_t v) { be(v, 2); }
  void u32(uint32_t v) { be(v, 4); }
  void u64(uint64_t v) { be(v, 8); }
  void bytes(std::span<const std::byte> b) { out_.insert(out_.end(), b.begin(), b.end()); }
  void text(std::string_view s) {
    bytes(std::span(reinterpret_cast<const std::byte*>(s.data()), s.size()));
  }
  void zeroes(size_t n) { out_.insert(out_.end(), n, std::byte{0}); }

 private:
  void be(uint64_t v, size_t n) { appendBe(out_, v, n); }
  std::vector<std::byte>& out_;
};

// Every read fails (returns false) instead of running past the end; after a failure the
// reader stays failed.
class ByteReader {
 public:
  explicit ByteReader(std::span<const std::byte> in) : in_(in) {}
  bool u16(uint16_t* v) { return be(v, 2); }
  bool u32(uint32_t* v) { return be(v, 4); }
  bool u64(uint64_t* v) { return be(v, 8); }
  bool text(size_t n, std::string* s) {
    if (!ok_ || remaining() < n) return ok_ = false;
    s->assign(reinterpret_cast<const char*>(in_.data() + pos_), n);
    pos_ += n;
    return true;
  }
  bool skip(size_t n) {
    if (!ok_ || remaining() < n) return ok_ = false;
    pos_ += n;
    return true;
  }
  size_t remaining() const { return in_.size() - pos_; }
  bool ok() const { return ok_; }

 private:
  template <typename T>
  bool be(T* v, size_t n) {
    if (!ok_ || remaining() < n) return ok_ = false;
    *v = static_cast<T>(getBe(in_.data() + pos_, n));
    pos_ += n;
    return true;
  }
  std::span<const std::byte> in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace tandem::nbd
