#include "disk_process.h"

#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <charconv>

namespace tandem::attach {
namespace {

using Clock = std::chrono::steady_clock;

int remainingMs(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

}  // namespace

int runningServerPid(const std::string& dir, const std::string& proc_root) {
  auto text = readWholeFile(dir + "/" + std::string(kPidFile));
  if (!text.isOk()) return 0;
  int pid = 0;
  std::from_chars(text->data(), text->data() + text->size(), pid);
  if (pid <= 0 || (::kill(pid, 0) != 0 && errno == ESRCH)) return 0;
  auto cmdline = readWholeFile(proc_root + "/" + std::to_string(pid) + "/cmdline");
  if (!cmdline.isOk()) return 0;
  std::string wanted = std::string("--dir") + '\0' + dir + '\0';
  return cmdline->find(wanted) == std::string::npos ? 0 : pid;
}

Status waitForExit(int pid, std::chrono::milliseconds timeout) {
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) {
    if (errno == ESRCH) return Status::ok();
    return Status::fromErrno(errno, "pidfd_open " + std::to_string(pid));
  }
  auto deadline = Clock::now() + timeout;
  pollfd p{pidfd, POLLIN, 0};
  int rc;
  do {
    rc = ::poll(&p, 1, remainingMs(deadline));
  } while (rc < 0 && errno == EINTR);
  ::close(pidfd);
  if (rc == 0) return Status(ErrorCode::kTimeout, "process " + std::to_string(pid) + " still running");
  return Status::ok();
}

Status stopServer(int pid, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    if (::kill(pid, SIGTERM) != 0) return errno == ESRCH ? Status::ok() : Status::fromErrno(errno, "kill");
    auto step = std::min<std::chrono::milliseconds>(std::chrono::milliseconds(500),
                                                    std::chrono::milliseconds(remainingMs(deadline)));
    Status s = waitForExit(pid, step);
    if (s.isOk() || s.code() != ErrorCode::kTimeout) return s;
    if (remainingMs(deadline) == 0) {
      return Status(ErrorCode::kTimeout,
                    "tandem-disk-fuse " + std::to_string(pid) + " did not exit on SIGTERM");
    }
  }
}

Status waitForConnected(const std::string& dir, uint64_t generation, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  int fd = ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (fd < 0) return Status::fromErrno(errno, "inotify_init1");
  if (::inotify_add_watch(fd, dir.c_str(), IN_MOVED_TO | IN_CLOSE_WRITE) < 0) {
    Status s = Status::fromErrno(errno, "inotify_add_watch " + dir);
    ::close(fd);
    return s;
  }
  std::string last_error = "no status yet";
  for (;;) {
    auto text = readWholeFile(dir + "/" + std::string(kStatusFile));
    if (text.isOk()) {
      auto status = decodeStatus(*text);
      if (status.isOk() && status->generation == generation) {
        if (status->state == LinkState::kConnected) break;
        last_error = status->error;
      }
    }
    int left = remainingMs(deadline);
    if (left == 0) {
      ::close(fd);
      return Status(ErrorCode::kUnavailable, "not connected: " + last_error)
          .withReason("nbd_endpoint_unavailable");
    }
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, left) > 0) {
      char buf[4096];
      while (::read(fd, buf, sizeof buf) > 0) {
      }
    }
  }
  ::close(fd);
  return Status::ok();
}

}  // namespace tandem::attach
