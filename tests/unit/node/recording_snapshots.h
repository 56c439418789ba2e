// RecordingSnapshots: a StorageProvider that forwards to another and records each snapshot call
// into a command log (for tests of the drbd engine's snapshot ordering).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "fake_command_runner.h"
#include "tandem/devices/storage_provider.h"

namespace tandem::node {

// The pool's provider with its snapshot calls recorded into the same command log as the DRBD
// tools (as {<prefix...>, "provider", "snapshot", volume, name}), so a test sees their order;
// `fail_snapshot` makes them fail (nothing taken).
class RecordingSnapshots : public devices::StorageProvider {
 public:
  RecordingSnapshots(std::unique_ptr<devices::StorageProvider> inner, devices::testing::FakeCommandRunner& log,
                     std::vector<std::string> prefix = {})
      : inner_(std::move(inner)), log_(log), prefix_(std::move(prefix)) {}
  bool fail_snapshot = false;
  devices::ProviderCapabilities capabilities() const override { return inner_->capabilities(); }
  Result<devices::Capacity> capacity() override { return inner_->capacity(); }
  Status create(const std::string& n, uint64_t size, devices::Provisioning p) override {
    return inner_->create(n, size, p);
  }
  Status remove(const std::string& n) override { return inner_->remove(n); }
  Status resize(const std::string& n, uint64_t size, bool force) override { return inner_->resize(n, size, force); }
  Result<std::unique_ptr<devices::BlockDevice>> open(const std::string& n) override { return inner_->open(n); }
  Result<std::vector<devices::VolumeInfo>> list() override { return inner_->list(); }
  Result<devices::VolumeInfo> info(const std::string& n) override { return inner_->info(n); }
  Status snapshot(const std::string& v, const std::string& s, const devices::ProgressFn& progress) override {
    std::vector<std::string> argv = prefix_;
    argv.insert(argv.end(), {"provider", "snapshot", v, s});
    (void)log_.run(argv);
    if (fail_snapshot) return Status(ErrorCode::kIo, "snapshot " + s + ": disk full");
    return inner_->snapshot(v, s, progress);
  }
  Status removeSnapshot(const std::string& v, const std::string& s) override { return inner_->removeSnapshot(v, s); }
  Status clone(const std::string& v, const std::string& s, const std::string& t,
               const devices::ProgressFn& progress) override {
    return inner_->clone(v, s, t, progress);
  }
  Status revert(const std::string& v, const std::string& s) override { return inner_->revert(v, s); }
  Status rename(const std::string& from, const std::string& to) override { return inner_->rename(from, to); }
  std::string pathOf(const std::string& n) const override { return inner_->pathOf(n); }

 private:
  std::unique_ptr<devices::StorageProvider> inner_;
  devices::testing::FakeCommandRunner& log_;
  std::vector<std::string> prefix_;
};

}  // namespace tandem::node
