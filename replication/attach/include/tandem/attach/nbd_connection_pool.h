// NbdConnectionPool: the libnbd connections to the NBD export of one volume, described by an
// attachment directory (spec file in, status file out; attachment_files.h). Used by
// tandem-disk-fuse (its attachment's directory) and tandem-pool-fs (a directory per open volume
// under its state directory; libvirt-storage-plugin/).
//
// A "generation" is a set of `connections` libnbd handles to one endpoint (one spec
// generation). I/O picks a free handle of the current generation. When a handle's connection
// dies, the generation is marked broken and the background reconnector connects a new
// generation to the same endpoint; retarget() re-reads the spec file, drops the current
// generation at once (no request may reach a stale primary after a retarget) and connects to
// the new endpoint. The status file reports each change.
//
// No path, bounded wait (like dm-multipath's queue_if_no_path with no_path_retry): a request
// that finds no connected generation, or whose connection is lost under it, waits up to
// `io_wait` for a connected generation (a reconnect, or the retarget of a planned handover) and
// is sent again there; past the wait it fails with EIO. It never pretends success. Sending a
// request again is safe: a read has no effect, and a write whose answer was lost is written
// again with the same bytes at the same offset before anything that depends on it is issued
// (its caller is still waiting). A request the server answered with an error is not retried.
// `io_wait` zero: fail at once.
//
// fsync: flush() sends NBD FLUSH on every handle of one generation, so it covers every write
// acknowledged before it on any connection (correct without the server's CAN_MULTI_CONN).
// Across generations it is correct because the primary acknowledges a write only once every
// up-to-date replica has it: the new endpoint holds every write the old one acknowledged.
//
// Thread-safety: every public method may be called from any thread.
// Operations return 0 or a positive errno (what FUSE replies).
#pragma once

#include <atomic>
#include <chrono>
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

class NbdConnectionPool {
 public:
  NbdConnectionPool(std::string attachment_dir, unsigned connections, std::chrono::milliseconds io_wait);
  ~NbdConnectionPool();
  NbdConnectionPool(const NbdConnectionPool&) = delete;
  NbdConnectionPool& operator=(const NbdConnectionPool&) = delete;

  // Reads the spec and connects the first generation; fails (kUnavailable, kInvalidArgument
  // when the export is smaller than the spec's size) without starting anything.
  Status start();
  // Re-reads the spec file and reconnects to its endpoint (from the SIGHUP handler thread).
  void retarget();
  // Online grow (from the SIGUSR1 handler thread): reads the target size from the grow file and
  // connects a new generation at that size to the same endpoint *before* dropping the current
  // one (make before break: I/O never waits for it). Connected: the spec file is rewritten with
  // the size and generation + 1, then the size changes and `on_grown` runs (the FUSE layer
  // invalidates the file's cached size). Not connected (the export is still smaller): the
  // reason goes to the grow-error file and nothing changes.
  void grow();
  void setOnGrown(std::function<void()> on_grown);
  // Stops the reconnector and closes every connection.
  void stop();

  uint64_t sizeBytes() const { return size_bytes_.load(); }

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
  // The current generation once it is connected (waiting until `deadline`); null past it or
  // when stopping.
  std::shared_ptr<Generation> connectedBy(std::chrono::steady_clock::time_point deadline);
  // Runs `op(handle)` (returns -1 on failure like libnbd) on one free handle; maps failures.
  template <typename Op>
  int withHandle(Op op);
  int onFailure(Generation& generation, nbd_handle* handle);
  void markBroken(Generation& generation);
  void reconnectLoop();
  // The grow step of reconnectLoop (called with `lock` held; releases it while connecting).
  void growLocked(std::unique_lock<std::mutex>& lock);
  void writeStatus(uint64_t generation, LinkState state, const std::string& error);

  const std::string dir_;
  const unsigned connections_;
  const std::chrono::milliseconds io_wait_;
  std::atomic<uint64_t> size_bytes_{0};
  std::function<void()> on_grown_;  // guarded by mu_

  std::mutex mu_;
  std::condition_variable changed_;
  AttachmentSpecFile spec_;
  std::shared_ptr<Generation> current_;
  bool retarget_requested_ = false;
  bool grow_requested_ = false;
  bool stopping_ = false;
  std::thread reconnector_;
};

}  // namespace tandem::attach
