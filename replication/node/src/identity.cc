#include "tandem/node/identity.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>

namespace tandem::node {

Result<NodeIdentity> loadIdentity(const std::string& state_dir) {
  NodeIdentity identity;
  std::string path = state_dir + "/identity";
  std::ifstream in(path);
  if (!in) {
    if (errno == ENOENT) return identity;
    return Status::fromErrno(errno, "read " + path);
  }
  std::string line;
  while (std::getline(in, line)) {
    auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string key = line.substr(0, eq), value = line.substr(eq + 1);
    if (key == "name") identity.name = value;
    if (key == "uuid") identity.uuid = value;
    if (key == "cluster_id") identity.cluster_id = value;
  }
  return identity;
}

Status saveIdentity(const std::string& state_dir, const NodeIdentity& identity) {
  std::string path = state_dir + "/identity";
  std::string tmp = path + ".tmp";
  std::string text = "name=" + identity.name + "\nuuid=" + identity.uuid + "\ncluster_id=" + identity.cluster_id + "\n";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::fromErrno(errno, "create " + tmp);
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  int err = errno;
  ::close(fd);
  if (!ok) return Status::fromErrno(err, "write " + tmp);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return Status::fromErrno(errno, "rename " + tmp);
  int dir = ::open(state_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  return Status::ok();
}

}  // namespace tandem::node
