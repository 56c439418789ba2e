// VolumeIo over tandem::attach::NbdConnectionPool (the connections tandem-disk-fuse uses).
#include "tandem/attach/nbd_connection_pool.h"
#include "tandem/common/log.h"
#include "tandem/poolfs/volume_io.h"

namespace tandem::poolfs {
namespace {

class NbdVolumeIo final : public VolumeIo {
 public:
  NbdVolumeIo(attach::NbdPoolSource source, unsigned connections) : pool_(std::move(source), connections) {}
  ~NbdVolumeIo() override { pool_.stop(); }
  Status start() { return pool_.start(); }
  int pread(void* buf, size_t count, uint64_t offset) override { return pool_.pread(buf, count, offset); }
  int pwrite(const void* buf, size_t count, uint64_t offset) override { return pool_.pwrite(buf, count, offset); }
  int flush() override { return pool_.flush(); }
  int zero(uint64_t offset, uint64_t length, bool keep_allocated) override {
    return pool_.zero(offset, length, keep_allocated);
  }

 private:
  attach::NbdConnectionPool pool_;
};

}  // namespace

VolumeIoFactory nbdVolumeIoFactory(unsigned connections) {
  return [connections](const attach::NbdEndpoint& endpoint, const std::string& volume,
                       uint64_t size_bytes) -> Result<std::shared_ptr<VolumeIo>> {
    attach::AttachmentSpecFile spec{volume, size_bytes, endpoint, 1};
    attach::NbdPoolSource source;
    source.log_tag = "pool-fs";
    source.read_spec = [spec]() -> Result<attach::AttachmentSpecFile> { return spec; };
    source.report_status = [volume](const attach::AttachmentStatusFile& status) {
      if (status.state == attach::LinkState::kDisconnected && !status.error.empty()) {
        log::warn("pool-fs", "volume " + volume + ": " + status.error);
      }
    };
    auto io = std::make_shared<NbdVolumeIo>(std::move(source), connections);
    RETURN_IF_ERROR(io->start());
    return std::shared_ptr<VolumeIo>(std::move(io));
  };
}

}  // namespace tandem::poolfs
