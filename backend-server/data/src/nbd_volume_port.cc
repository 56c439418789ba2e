// VolumePort over NBD with libnbd's synchronous calls: one connection per port, structured
// replies and base:allocation requested (a server without them: everything reads as allocated).
#include <libnbd.h>

#include <algorithm>

#include "tandem/controller/volume_port.h"

namespace tandem::controller {
namespace {

constexpr uint64_t kMaxRequest = 32ull << 20;  // the Tandem NBD server's largest payload

std::string nbdError(const std::string& what) {
  const char* e = nbd_get_error();
  return what + ": " + (e ? e : "unknown libnbd error");
}

Status ioError(const std::string& what) { return Status(ErrorCode::kIo, nbdError(what)); }

class NbdVolumePort final : public VolumePort {
 public:
  NbdVolumePort(nbd_handle* h, uint64_t size, bool allocation, bool can_zero)
      : h_(h), size_(size), allocation_(allocation), can_zero_(can_zero) {}
  ~NbdVolumePort() override {
    nbd_shutdown(h_, 0);
    nbd_close(h_);
  }

  uint64_t sizeBytes() const override { return size_; }

  Result<std::vector<devices::Extent>> extents(uint64_t offset, uint64_t length) override {
    RETURN_IF_ERROR(devices::checkRange(offset, length, size_));
    std::vector<devices::Extent> out;
    auto add = [&](uint64_t n, bool hole) {
      if (n == 0) return;
      if (!out.empty() && out.back().hole == hole) {
        out.back().length += n;
      } else {
        out.push_back(devices::Extent{n, hole});
      }
    };
    if (!allocation_) {
      add(length, false);
      return out;
    }
    uint64_t at = offset;
    const uint64_t end = offset + length;
    while (at < end) {
      uint64_t count = std::min<uint64_t>(end - at, 1ull << 30);
      struct Collected {
        std::vector<devices::Extent> extents;
      } collected;
      nbd_extent_callback cb{
          [](void* user, const char* context, uint64_t, uint32_t* entries, size_t n, int*) -> int {
            if (std::string_view(context) != LIBNBD_CONTEXT_BASE_ALLOCATION) return 0;
            auto* c = static_cast<Collected*>(user);
            for (size_t i = 0; i + 1 < n; i += 2) {
              c->extents.push_back(devices::Extent{entries[i], (entries[i + 1] & LIBNBD_STATE_HOLE) != 0});
            }
            return 0;
          },
          &collected, nullptr};
      if (nbd_block_status(h_, count, at, cb, 0) == -1) return ioError("NBD BLOCK_STATUS");
      uint64_t covered = 0;
      for (const devices::Extent& e : collected.extents) {
        uint64_t n = std::min(e.length, count - covered);
        add(n, e.hole);
        covered += n;
        if (covered == count) break;
      }
      if (covered == 0) return Status(ErrorCode::kProtocol, "NBD BLOCK_STATUS described nothing");
      at += covered;
    }
    return out;
  }

  Status read(uint64_t offset, std::span<std::byte> out) override {
    for (uint64_t done = 0; done < out.size();) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(kMaxRequest, out.size() - done));
      if (nbd_pread(h_, out.data() + done, n, offset + done, 0) == -1) return ioError("NBD READ");
      done += n;
    }
    return Status::ok();
  }

  Status write(uint64_t offset, std::span<const std::byte> data) override {
    for (uint64_t done = 0; done < data.size();) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(kMaxRequest, data.size() - done));
      if (nbd_pwrite(h_, data.data() + done, n, offset + done, 0) == -1) return ioError("NBD WRITE");
      done += n;
    }
    return Status::ok();
  }

  Status zero(uint64_t offset, uint64_t length) override {
    if (!can_zero_) {
      static const std::vector<std::byte> kZeroes(1 << 20);
      for (uint64_t done = 0; done < length;) {
        uint64_t n = std::min<uint64_t>(kZeroes.size(), length - done);
        RETURN_IF_ERROR(write(offset + done, std::span(kZeroes.data(), n)));
        done += n;
      }
      return Status::ok();
    }
    for (uint64_t done = 0; done < length;) {
      uint64_t n = std::min<uint64_t>(1ull << 30, length - done);
      if (nbd_zero(h_, n, offset + done, 0) == -1) return ioError("NBD WRITE_ZEROES");
      done += n;
    }
    return Status::ok();
  }

  Status flush() override {
    if (nbd_flush(h_, 0) == -1) return ioError("NBD FLUSH");
    return Status::ok();
  }

 private:
  nbd_handle* h_;
  const uint64_t size_;
  const bool allocation_;
  const bool can_zero_;
};

class NbdOpener final : public VolumePortOpener {
 public:
  Result<std::unique_ptr<VolumePort>> open(const std::string& nbd_uri) override {
    nbd_handle* h = nbd_create();
    if (h == nullptr) return Status(ErrorCode::kInternal, nbdError("nbd_create"));
    auto fail = [&](ErrorCode code, const std::string& what) {
      Status s(code, nbdError(what));
      nbd_close(h);
      return s;
    };
    if (nbd_add_meta_context(h, LIBNBD_CONTEXT_BASE_ALLOCATION) == -1) {
      return fail(ErrorCode::kInternal, "request base:allocation");
    }
    if (nbd_connect_uri(h, nbd_uri.c_str()) == -1) {
      return fail(ErrorCode::kUnavailable, "connect to the volume's primary at " + nbd_uri);
    }
    int64_t size = nbd_get_size(h);
    if (size < 0) return fail(ErrorCode::kIo, "size of " + nbd_uri);
    bool allocation = nbd_can_meta_context(h, LIBNBD_CONTEXT_BASE_ALLOCATION) == 1;
    bool can_zero = nbd_can_zero(h) == 1;
    return std::unique_ptr<VolumePort>(
        std::make_unique<NbdVolumePort>(h, static_cast<uint64_t>(size), allocation, can_zero));
  }
};

}  // namespace

std::unique_ptr<VolumePortOpener> nbdVolumePortOpener() { return std::make_unique<NbdOpener>(); }

}  // namespace tandem::controller
