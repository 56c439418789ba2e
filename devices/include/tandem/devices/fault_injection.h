// Fault injection for the data path: a BlockDevice wrapper that fails on command and can
// "crash" (drop every write not yet made durable), and a StorageProvider wrapper whose open()
// hands out such devices.
//
// FaultInjectingBlockDevice
// - Wraps any BlockDevice (MemoryBlockDevice in engine tests, a FileBlockDevice from a provider).
// - Faults are set through its FaultControls (shared, so a test can keep a handle after handing
//   the device to the code under test). All controls are atomics: set them from any thread.
//   * failNthRead(n) / failNthWrite(n) / failNthFlush(n): the n-th such call from now (1 = the
//     next) fails with Status::fromErrno(EIO) (kIo) and does nothing. write, trim and writeZeroes
//     all count as writes.
//   * noSpaceAfterBytes(n): write() calls succeed while the bytes they write (counted from now)
//     stay within n; the write that would exceed n, and every later one, fails with ENOSPC
//     (kNoSpace) and writes nothing.
//   * setBroken(true): every call fails with EIO until setBroken(false) (a dead disk).
// - Crash simulation: the device keeps an undo log with the pre-image of every write, trim and
//   writeZeroes since the last successful flush(). crash() writes the pre-images back (newest
//   first), so the inner device holds exactly its last flushed state plus the FUA writes: a FUA
//   write is durable at once, so its range is cut out of the older pre-images. The device stays
//   usable after crash() (like a machine that rebooted).
// - Thread-safety: every BlockDevice call may come from any thread. Mutating calls are
//   serialised by one mutex (the pre-image read and the write must be one step); reads run
//   concurrently. crash() must not race with writes whose outcome the test checks.
//
// FaultInjectingProvider
// - Forwards every call to the wrapped provider. open(name) returns a FaultInjectingBlockDevice
//   whose FaultControls are the ones controls(name) returns (one set per volume name, shared by
//   every device opened for it). crash(name) crashes every still-open device of that volume.
// - failNextCall(status): the next control-plane call (anything but capabilities()) returns
//   `status` without reaching the wrapped provider.
// - Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "tandem/devices/block_device.h"
#include "tandem/devices/storage_provider.h"

namespace tandem::devices {

class FaultControls {
 public:
  void failNthRead(uint64_t n) { read_countdown_ = n; }
  void failNthWrite(uint64_t n) { write_countdown_ = n; }
  void failNthFlush(uint64_t n) { flush_countdown_ = n; }
  void noSpaceAfterBytes(uint64_t n) {
    written_ = 0;
    space_limit_ = static_cast<int64_t>(n);
  }
  void setBroken(bool broken) { broken_ = broken; }
  // Clears every fault (counters of calls seen are kept).
  void clear();

  uint64_t reads() const { return reads_.load(); }
  uint64_t writes() const { return writes_.load(); }
  uint64_t flushes() const { return flushes_.load(); }
  uint64_t injectedFaults() const { return injected_.load(); }

 private:
  friend class FaultInjectingBlockDevice;
  // Counts a call against a countdown; true if this call is the one to fail.
  static bool hit(std::atomic<uint64_t>& countdown);
  // Reserves `bytes` of the space budget; false if it would be exceeded.
  bool reserveSpace(uint64_t bytes);

  std::atomic<uint64_t> read_countdown_{0};  // 0: off
  std::atomic<uint64_t> write_countdown_{0};
  std::atomic<uint64_t> flush_countdown_{0};
  std::atomic<int64_t> space_limit_{-1};  // -1: unlimited
  std::atomic<uint64_t> written_{0};
  std::atomic<bool> broken_{false};
  std::atomic<uint64_t> reads_{0}, writes_{0}, flushes_{0}, injected_{0};
};

class FaultInjectingBlockDevice final : public BlockDevice {
 public:
  explicit FaultInjectingBlockDevice(
      std::shared_ptr<BlockDevice> inner,
      std::shared_ptr<FaultControls> controls = std::make_shared<FaultControls>());

  uint64_t sizeBytes() const override { return inner_->sizeBytes(); }
  Status read(uint64_t offset, std::span<std::byte> out) override;
  Status write(uint64_t offset, std::span<const std::byte> data, bool fua) override;
  Status flush() override;
  Status trim(uint64_t offset, uint64_t length, bool fua) override;
  Status writeZeroes(uint64_t offset, uint64_t length, bool fua) override;
  Status refreshSize() override { return inner_->refreshSize(); }
  Result<std::vector<Extent>> extents(uint64_t offset, uint64_t length) override {
    return inner_->extents(offset, length);
  }

  FaultControls& faults() { return *controls_; }
  const std::shared_ptr<FaultControls>& sharedFaults() const { return controls_; }
  BlockDevice& inner() { return *inner_; }

  // Reverts the inner device to its last flushed state (plus FUA writes). Errors come from the
  // inner device's writes.
  Status crash();
  // Bytes of pre-images held: how much a crash now would revert.
  uint64_t unflushedBytes() const;

 private:
  struct PreImage {
    uint64_t offset;
    std::vector<std::byte> bytes;
  };
  Status checkBroken();
  // Saves the pre-image of [offset, offset+length) (caller holds mu_).
  Status recordPreImage(uint64_t offset, uint64_t length);
  // A FUA write made [offset, offset+length) durable: drop it from older pre-images.
  void forgetRange(uint64_t offset, uint64_t length);
  // Runs a mutating operation with undo logging and FUA handling (caller holds mu_).
  template <typename Op>
  Status mutate(uint64_t offset, uint64_t length, bool fua, Op op);

  std::shared_ptr<BlockDevice> inner_;
  std::shared_ptr<FaultControls> controls_;
  mutable std::mutex mu_;
  std::vector<PreImage> undo_;  // oldest first
};

class FaultInjectingProvider final : public StorageProvider {
 public:
  explicit FaultInjectingProvider(std::unique_ptr<StorageProvider> inner) : inner_(std::move(inner)) {}

  // The fault controls of every device opened for `volume` (created on first use).
  std::shared_ptr<FaultControls> controls(const std::string& volume);
  // Crashes every still-open device of `volume`; OK if none is open.
  Status crash(const std::string& volume);
  void failNextCall(Status status);
  StorageProvider& inner() { return *inner_; }

  ProviderCapabilities capabilities() const override { return inner_->capabilities(); }
  Result<Capacity> capacity() override;
  Status create(const std::string& name, uint64_t size_bytes, Provisioning provisioning) override;
  Status remove(const std::string& name) override;
  Status resize(const std::string& name, uint64_t new_size_bytes, bool force) override;
  Result<std::unique_ptr<BlockDevice>> open(const std::string& name) override;
  Result<std::vector<VolumeInfo>> list() override;
  Result<VolumeInfo> info(const std::string& name) override;
  Status snapshot(const std::string& volume, const std::string& snapshot,
                  const ProgressFn& progress) override;
  Status removeSnapshot(const std::string& volume, const std::string& snapshot) override;
  Status clone(const std::string& source_volume, const std::string& source_snapshot,
               const std::string& target, const ProgressFn& progress) override;
  Status revert(const std::string& volume, const std::string& snapshot) override;
  Status rename(const std::string& from, const std::string& to) override;
  std::string pathOf(const std::string& name) const override { return inner_->pathOf(name); }

 private:
  std::optional<Status> takeInjected();

  std::unique_ptr<StorageProvider> inner_;
  std::mutex mu_;
  std::optional<Status> next_failure_;
  std::map<std::string, std::shared_ptr<FaultControls>> controls_;
  std::map<std::string, std::vector<std::weak_ptr<FaultInjectingBlockDevice>>> open_devices_;
};

}  // namespace tandem::devices
