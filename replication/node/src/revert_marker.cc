#include "tandem/node/revert_marker.h"

#include <unistd.h>

#include <cerrno>
#include <fstream>

#include "tandem/node/atomic_file.h"

namespace tandem::node {
namespace {

std::string markerName(const std::string& volume_uuid) { return volume_uuid + ".reverted"; }

}  // namespace

Result<std::string> loadRevertMarker(const std::string& dir, const std::string& volume_uuid) {
  const std::string path = dir + "/" + markerName(volume_uuid);
  std::ifstream in(path);
  if (!in) {
    if (errno == ENOENT) return std::string();
    return Status::fromErrno(errno, "read " + path);
  }
  std::string id;
  std::getline(in, id);
  return id;
}

Status saveRevertMarker(const std::string& dir, const std::string& volume_uuid, const std::string& revert_id) {
  return writeFileAtomically(dir, markerName(volume_uuid), revert_id + "\n");
}

Status removeRevertMarker(const std::string& dir, const std::string& volume_uuid) {
  const std::string path = dir + "/" + markerName(volume_uuid);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return Status::fromErrno(errno, "unlink " + path);
  return Status::ok();
}

}  // namespace tandem::node
