// The stage of a provider whose snapshot is cheap and atomic: everything happens at the cut.
#include <utility>

#include "tandem/devices/snapshot_staging.h"
#include "tandem/devices/storage_provider.h"

namespace tandem::devices {
namespace {

class SnapshotAtCut final : public SnapshotStaging {
 public:
  SnapshotAtCut(StorageProvider& provider, std::string volume, std::string snapshot)
      : provider_(provider), volume_(std::move(volume)), snapshot_(std::move(snapshot)) {}

  void dirtied(uint64_t, uint64_t) override {}
  Status precopy(std::stop_token) override { return Status::ok(); }
  Status cut() override { return provider_.snapshot(volume_, snapshot_); }
  Status publish() override { return Status::ok(); }
  CutStats cutStats() const override { return {}; }

 private:
  StorageProvider& provider_;
  std::string volume_;
  std::string snapshot_;
};

}  // namespace

std::unique_ptr<SnapshotStaging> makeSnapshotAtCut(StorageProvider& provider, std::string volume,
                                                   std::string snapshot) {
  return std::make_unique<SnapshotAtCut>(provider, std::move(volume), std::move(snapshot));
}

Result<std::unique_ptr<SnapshotStaging>> StorageProvider::stageSnapshot(const std::string& volume,
                                                                         const std::string& snapshot) {
  return makeSnapshotAtCut(*this, volume, snapshot);
}

}  // namespace tandem::devices
