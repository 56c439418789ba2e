#include "tandem/node/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace tandem::node {

Status writeFileAtomically(const std::string& dir, const std::string& name, const std::string& text) {
  const std::string path = dir + "/" + name;
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::fromErrno(errno, "create " + tmp);
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  int err = errno;
  ::close(fd);
  if (!ok) return Status::fromErrno(err, "write " + tmp);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return Status::fromErrno(errno, "rename " + tmp);
  int dirfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirfd < 0) return Status::fromErrno(errno, "open " + dir);
  int rc = ::fsync(dirfd);
  err = errno;
  ::close(dirfd);
  return rc == 0 ? Status::ok() : Status::fromErrno(err, "fsync " + dir);
}

}  // namespace tandem::node
