// VolumeIo over tandem::attach::NbdConnectionPool (the connections tandem-disk-fuse uses). The
// pool is described by an attachment directory: each connected volume gets its own under the
// factory's directory, holding the spec it connects to and the status it reports; removed when
// the connections close.
#include <atomic>
#include <filesystem>

#include "tandem/attach/nbd_connection_pool.h"
#include "tandem/common/log.h"
#include "tandem/poolfs/volume_io.h"

namespace tandem::poolfs {
namespace {

class NbdVolumeIo final : public VolumeIo {
 public:
  NbdVolumeIo(std::string dir, unsigned connections, std::chrono::milliseconds io_wait)
      : dir_(std::move(dir)), pool_(dir_, connections, io_wait) {}
  ~NbdVolumeIo() override {
    pool_.stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  Status start() { return pool_.start(); }
  int pread(void* buf, size_t count, uint64_t offset) override { return pool_.pread(buf, count, offset); }
  int pwrite(const void* buf, size_t count, uint64_t offset) override { return pool_.pwrite(buf, count, offset); }
  int flush() override { return pool_.flush(); }
  int zero(uint64_t offset, uint64_t length, bool keep_allocated) override {
    return pool_.zero(offset, length, keep_allocated);
  }

 private:
  const std::string dir_;
  attach::NbdConnectionPool pool_;
};

}  // namespace

VolumeIoFactory nbdVolumeIoFactory(unsigned connections, std::string dir, std::chrono::milliseconds io_wait) {
  auto counter = std::make_shared<std::atomic<uint64_t>>(0);
  return [connections, dir, io_wait, counter](const attach::NbdEndpoint& endpoint, const std::string& volume,
                                              uint64_t size_bytes) -> Result<std::shared_ptr<VolumeIo>> {
    std::string volume_dir = dir + "/" + volume + "." + std::to_string(counter->fetch_add(1));
    std::error_code ec;
    std::filesystem::create_directories(volume_dir, ec);
    if (ec) return Status(ErrorCode::kIo, "create " + volume_dir + ": " + ec.message());
    attach::AttachmentSpecFile spec{volume, size_bytes, endpoint, 1};
    if (Status s = attach::writeFileAtomically(volume_dir + "/" + std::string(attach::kSpecFile),
                                               attach::encodeSpec(spec));
        !s.isOk()) {
      std::filesystem::remove_all(volume_dir, ec);
      return s;
    }
    auto io = std::make_shared<NbdVolumeIo>(volume_dir, connections, io_wait);
    RETURN_IF_ERROR(io->start());
    return std::shared_ptr<VolumeIo>(std::move(io));
  };
}

}  // namespace tandem::poolfs
