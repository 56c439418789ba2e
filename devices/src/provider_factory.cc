#include "tandem/devices/provider_factory.h"

#include <algorithm>
#include <cctype>

#include "file/file_provider.h"
#include "lvm_thin/lvm_thin_provider.h"
#include "zfs/zfs_provider.h"

namespace tandem::devices {
namespace {

// A plain name for a VG, LV or zpool: non-empty, no '/', '@', whitespace or leading '-'.
bool isPlainToolName(const std::string& s) {
  if (s.empty() || s[0] == '-') return false;
  return std::none_of(s.begin(), s.end(), [](char c) {
    return c == '/' || c == '@' || std::isspace(static_cast<unsigned char>(c)) ||
           std::iscntrl(static_cast<unsigned char>(c));
  });
}

// A dataset path under a pool: plain names joined by single '/'.
bool isDatasetPath(const std::string& s) {
  size_t start = 0;
  for (;;) {
    size_t slash = s.find('/', start);
    if (!isPlainToolName(s.substr(start, slash == std::string::npos ? std::string::npos : slash - start)))
      return false;
    if (slash == std::string::npos) return true;
    start = slash + 1;
  }
}

Status bad(const PoolConfig& config, const std::string& what) {
  return Status(ErrorCode::kInvalidArgument, "storage pool (provider '" + config.provider + "'): " + what);
}

}  // namespace

Result<std::unique_ptr<StorageProvider>> makeProvider(const PoolConfig& config) {
  if (config.provider == "file") {
    if (config.path.empty()) return bad(config, "`path` (the volume directory) is required");
    auto provider = FileProvider::make(config.path);
    if (!provider.isOk()) return provider.status().withContext("file storage pool " + config.path);
    return std::unique_ptr<StorageProvider>(std::move(provider).value());
  }
  std::unique_ptr<CommandRunner> owned;
  if (config.runner == nullptr) owned = std::make_unique<SubprocessCommandRunner>();
  if (config.provider == "lvm-thin") {
    if (!isPlainToolName(config.volume_group))
      return bad(config, "invalid `volume_group` '" + config.volume_group + "'");
    if (!isPlainToolName(config.thin_pool))
      return bad(config, "invalid `thin_pool` '" + config.thin_pool + "'");
    return std::unique_ptr<StorageProvider>(std::make_unique<LvmThinProvider>(
        config.volume_group, config.thin_pool, config.runner, std::move(owned), config.device_dir));
  }
  if (config.provider == "zfs") {
    if (!isPlainToolName(config.zpool)) return bad(config, "invalid `zpool` '" + config.zpool + "'");
    if (!config.dataset.empty() && !isDatasetPath(config.dataset)) {
      return bad(config, "invalid `dataset` '" + config.dataset + "'");
    }
    std::string root = config.zpool + (config.dataset.empty() ? "" : "/" + config.dataset);
    return std::unique_ptr<StorageProvider>(
        std::make_unique<ZfsProvider>(root, config.runner, std::move(owned), config.device_dir));
  }
  return bad(config, "unknown provider (want file, lvm-thin or zfs)");
}

}  // namespace tandem::devices
