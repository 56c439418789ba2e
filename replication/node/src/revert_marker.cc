#include "tandem/node/revert_marker.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>

namespace tandem::node {
namespace {

std::string markerPath(const std::string& dir, const std::string& volume_uuid) {
  return dir + "/" + volume_uuid + ".reverted";
}

Status syncDirectory(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::fromErrno(errno, "open " + dir);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  return rc == 0 ? Status::ok() : Status::fromErrno(err, "fsync " + dir);
}

}  // namespace

Result<std::string> loadRevertMarker(const std::string& dir, const std::string& volume_uuid) {
  const std::string path = markerPath(dir, volume_uuid);
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
  const std::string path = markerPath(dir, volume_uuid);
  const std::string tmp = path + ".tmp";
  const std::string text = revert_id + "\n";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::fromErrno(errno, "create " + tmp);
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  int err = errno;
  ::close(fd);
  if (!ok) return Status::fromErrno(err, "write " + tmp);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return Status::fromErrno(errno, "rename " + tmp);
  return syncDirectory(dir);
}

Status removeRevertMarker(const std::string& dir, const std::string& volume_uuid) {
  const std::string path = markerPath(dir, volume_uuid);
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT) return Status::ok();
    return Status::fromErrno(errno, "unlink " + path);
  }
  return syncDirectory(dir);
}

}  // namespace tandem::node
