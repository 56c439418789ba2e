#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>

#include "tandem/drbd/line_process.h"

namespace tandem::drbd {
namespace {

class SubprocessLineStream final : public LineStream {
 public:
  SubprocessLineStream(pid_t pid, int fd) : pid_(pid), fd_(fd) {}
  ~SubprocessLineStream() override {
    terminate();
    ::close(fd_);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }

  Result<std::optional<std::string>> readLine() override {
    while (true) {
      auto nl = buffer_.find('\n');
      if (nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return std::optional<std::string>(std::move(line));
      }
      char buf[4096];
      ssize_t n = ::read(fd_, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Status(ErrorCode::kIo, std::string("read from events stream: ") + std::strerror(errno));
      if (n == 0) {
        if (buffer_.empty()) return std::optional<std::string>{};
        std::string rest = std::move(buffer_);  // a last line without its newline
        buffer_.clear();
        return std::optional<std::string>(std::move(rest));
      }
      buffer_.append(buf, static_cast<size_t>(n));
    }
  }

  void terminate() override {
    std::lock_guard lock(mu_);
    if (!killed_) {
      ::kill(pid_, SIGKILL);  // the pipe's write end closes with it: readLine() sees EOF
      killed_ = true;
    }
  }

 private:
  pid_t pid_;
  int fd_;
  std::string buffer_;
  std::mutex mu_;
  bool killed_ = false;
};

}  // namespace

Result<std::unique_ptr<LineStream>> SubprocessLineRunner::start(const std::vector<std::string>& argv) {
  if (argv.empty()) return Status(ErrorCode::kInvalidArgument, "empty command line");
  int out[2];
  int err_pipe[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return Status(ErrorCode::kIo, std::string("pipe: ") + std::strerror(errno));
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(out[0]);
    ::close(out[1]);
    return Status(ErrorCode::kIo, std::string("pipe: ") + std::strerror(errno));
  }
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) {
    int e = errno;
    for (int fd : {out[0], out[1], err_pipe[0], err_pipe[1]}) ::close(fd);
    return Status(ErrorCode::kIo, std::string("fork: ") + std::strerror(e));
  }
  if (pid == 0) {
    int null_fd = ::open("/dev/null", O_RDWR);
    ::dup2(null_fd, 0);
    ::dup2(out[1], 1);
    ::dup2(null_fd, 2);
    ::setenv("LC_ALL", "C", 1);
    ::execvp(args[0], args.data());
    int e = errno;
    (void)!::write(err_pipe[1], &e, sizeof e);
    ::_exit(127);
  }
  ::close(out[1]);
  ::close(err_pipe[1]);
  int exec_errno = 0;
  ssize_t n;
  do {
    n = ::read(err_pipe[0], &exec_errno, sizeof exec_errno);
  } while (n < 0 && errno == EINTR);
  ::close(err_pipe[0]);
  if (n == static_cast<ssize_t>(sizeof exec_errno)) {
    ::close(out[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    return Status(exec_errno == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo,
                  "run " + argv[0] + ": " + std::strerror(exec_errno));
  }
  return std::unique_ptr<LineStream>(std::make_unique<SubprocessLineStream>(pid, out[0]));
}

}  // namespace tandem::drbd
