#include "tandem/node/pool_spec.h"

#include "tandem/common/object_name.h"

namespace tandem::node {
namespace {

Status bad(std::string_view text, const std::string& why) {
  return Status(ErrorCode::kInvalidArgument,
                "pool '" + std::string(text) + "': " + why +
                    " (expected NAME=file:DIR, NAME=lvm-thin:VG/THINPOOL or NAME=zfs:ZPOOL[/DATASET])");
}

}  // namespace

Result<PoolSpec> parsePoolSpec(std::string_view text) {
  size_t eq = text.find('=');
  size_t colon = text.find(':', eq == std::string_view::npos ? 0 : eq);
  if (eq == std::string_view::npos || colon == std::string_view::npos) return bad(text, "malformed");
  PoolSpec spec;
  spec.name = std::string(text.substr(0, eq));
  if (!isValidObjectName(spec.name)) return bad(text, "invalid pool name");
  spec.config.provider = std::string(text.substr(eq + 1, colon - eq - 1));
  std::string location(text.substr(colon + 1));
  if (location.empty()) return bad(text, "no location");
  if (spec.config.provider == "file") {
    if (location[0] != '/') return bad(text, "the directory must be an absolute path");
    spec.config.path = location;
  } else if (spec.config.provider == "lvm-thin") {
    size_t slash = location.find('/');
    if (slash == std::string::npos || slash == 0 || slash + 1 == location.size() ||
        location.find('/', slash + 1) != std::string::npos) {
      return bad(text, "lvm-thin needs VG/THINPOOL");
    }
    spec.config.volume_group = location.substr(0, slash);
    spec.config.thin_pool = location.substr(slash + 1);
  } else if (spec.config.provider == "zfs") {
    size_t slash = location.find('/');
    spec.config.zpool = location.substr(0, slash);
    if (slash != std::string::npos) spec.config.dataset = location.substr(slash + 1);
    if (spec.config.zpool.empty()) return bad(text, "zfs needs a pool");
  } else {
    return bad(text, "unknown provider '" + spec.config.provider + "'");
  }
  return spec;
}

}  // namespace tandem::node
