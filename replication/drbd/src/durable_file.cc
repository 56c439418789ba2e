#include "tandem/drbd/durable_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace tandem::drbd {
namespace {

Status posixError(const std::string& what, const std::string& path, int err) {
  return Status(ErrorCode::kIo, what + " " + path + ": " + std::strerror(err));
}

Status syncDirectoryOf(const std::string& path) {
  // Built in one expression: assigning "." to the string afterwards trips g++ 12's -Wrestrict
  // false positive at -O2 (the release build).
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  const std::string dir = parent.empty() ? std::string(".") : parent.string();
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return posixError("open directory", dir, errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return posixError("fsync directory", dir, err);
  return Status::ok();
}

}  // namespace

Result<std::optional<std::string>> readFileIfExists(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<std::string>{};
    return posixError("open", path, errno);
  }
  std::string out;
  char buf[8192];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return posixError("read", path, err);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return std::optional<std::string>(std::move(out));
}

Status writeFileSynced(const std::string& path, const std::string& text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return posixError("create", path, errno);
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return posixError("write", path, err);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    int err = errno;
    ::close(fd);
    return posixError("fsync", path, err);
  }
  if (::close(fd) != 0) return posixError("close", path, errno);
  return Status::ok();
}

Status renameSynced(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) return posixError("rename " + from + " to", to, errno);
  return syncDirectoryOf(to);
}

Status removeFileSynced(const std::string& path) {
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT) return Status::ok();
    return posixError("remove", path, errno);
  }
  return syncDirectoryOf(path);
}

}  // namespace tandem::drbd
