// NbdConnectionPool: libnbd connections to the NBD export of one volume, shared by the FUSE
// servers (tandem-disk-fuse: one attachment; tandem-pool-fs: every open volume of a pool).
//
// Where to connect comes from `NbdPoolSource::read_spec` (tandem-disk-fuse: the attachment's spec
// file; tandem-pool-fs: the attachment's connection info) and every change of the link is
// reported to `NbdPoolSource::report_status` (the status file; a log line).
//
// A "generation" is a set of `connections` libnbd handles to one endpoint (one spec
// generation). I/O picks a free handle of the current generation. When a handle's connection
// dies, the generation is marked broken: from then on every request fails at once with EIO
// (never blocks, never pretends success) until the background reconnector has connected a new
// generation to the same endpoint. retarget() re-reads the spec, drops the current
// generation at once (no write may reach a stale primary after a retarget) and connects to the
// new endpoint. report_status hears of each change.
//
// fsync: flush() sends NBD FLUSH on every handle of the generation, so it covers every write
// acknowledged before it on any connection (correct without the server's CAN_MULTI_CONN).
//
// Thread-safety: every public method may be called from any thread.
// Operations return 0 or a positive errno (what FUSE replies).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tandem/attach/attachment_files.h"

struct nbd_handle;

namespace tandem::attach {

// Where the pool connects and whom it tells. Both are called from the pool's threads (never
// concurrently with themselves) and must not call back into the pool.
struct NbdPoolSource {
  std::function<Result<AttachmentSpecFile>()> read_spec;
  std::function<void(const AttachmentStatusFile&)> report_status;
  std::string log_tag = "nbd-pool";
};

// The source of an attachment directory: its spec file, its status file.
NbdPoolSource attachmentDirSource(const std::string& attachment_dir);

class NbdConnectionPool {
 public:
  NbdConnectionPool(NbdPoolSource source, unsigned connections);
  ~NbdConnectionPool();
  NbdConnectionPool(const NbdConnectionPool&) = delete;
  NbdConnectionPool& operator=(const NbdConnectionPool&) = delete;

  // Reads the spec and connects the first generation; fails (kUnavailable, kInvalidArgument
  // when the export is smaller than the spec's size) without starting anything.
  Status start();
  // Re-reads the spec and reconnects to its endpoint (e.g. from a SIGHUP handler thread).
  void retarget();
  // Stops the reconnector and closes every connection.
  void stop();

  uint64_t sizeBytes() const { return size_bytes_; }

  int pread(void* buf, size_t count, uint64_t offset);
  int pwrite(const void* buf, size_t count, uint64_t offset);
  int flush();
  // Zeroes a range; `keep_allocated` sends NBD_CMD_FLAG_NO_HOLE (FALLOC_FL_ZERO_RANGE), else
  // the server may deallocate (FALLOC_FL_PUNCH_HOLE).
  int zero(uint64_t offset, uint64_t length, bool keep_allocated);

 private:
  struct Connection {
    std::mutex mu;
    nbd_handle* handle = nullptr;
  };
  struct Generation {
    uint64_t id = 0;
    std::vector<std::unique_ptr<Connection>> connections;
    std::atomic<unsigned> next{0};
    std::atomic<bool> broken{false};
    bool can_zero = false;
    ~Generation();
  };

  Result<std::shared_ptr<Generation>> connect(const AttachmentSpecFile& spec);
  std::shared_ptr<Generation> current();
  // Runs `op(handle)` (returns -1 on failure like libnbd) on one free handle; maps failures.
  template <typename Op>
  int withHandle(Op op);
  int onFailure(Generation& generation, nbd_handle* handle);
  void markBroken(Generation& generation);
  void reconnectLoop();
  void writeStatus(uint64_t generation, LinkState state, const std::string& error);

  const NbdPoolSource source_;
  const unsigned connections_;
  uint64_t size_bytes_ = 0;

  std::mutex mu_;
  std::condition_variable changed_;
  AttachmentSpecFile spec_;
  std::shared_ptr<Generation> current_;
  bool retarget_requested_ = false;
  bool stopping_ = false;
  std::thread reconnector_;
};

}  // namespace tandem::attach
