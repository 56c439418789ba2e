#include "process_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>

extern char** environ;

namespace tandem::nbd::e2e {
namespace {

std::vector<char*> cArgs(const std::vector<std::string>& argv) {
  std::vector<char*> out;
  for (const auto& a : argv) out.push_back(const_cast<char*>(a.c_str()));
  out.push_back(nullptr);
  return out;
}

// Waits for `pid` to exit within `timeout` using a pidfd (no polling loop). Returns the
// wait status, or kTimeout (the child is still running).
Result<int> waitWithDeadline(pid_t pid, std::chrono::milliseconds timeout) {
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd >= 0) {
    pollfd p{pidfd, POLLIN, 0};
    int rc;
    do {
      rc = ::poll(&p, 1, static_cast<int>(timeout.count()));
    } while (rc < 0 && errno == EINTR);
    ::close(pidfd);
    if (rc == 0) return Status(ErrorCode::kTimeout, "child " + std::to_string(pid) + " still running");
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return Status::fromErrno(errno, "waitpid");
  }
  return status;
}

int exitCode(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : -1; }

}  // namespace

std::string findOnPath(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    std::string candidate = (dir.empty() ? "." : dir) + "/" + program;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

Result<CommandResult> runCommand(const std::vector<std::string>& argv, const std::string& scratch_dir,
                                 std::chrono::milliseconds timeout) {
  std::string out_path = scratch_dir + "/command-output.txt";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  pid_t pid = 0;
  auto args = cArgs(argv);
  int rc = ::posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return Status::fromErrno(rc, "spawn " + argv[0]);

  CommandResult result;
  Result<int> status = waitWithDeadline(pid, timeout);
  if (!status.isOk()) {
    ::kill(pid, SIGKILL);
    status = waitWithDeadline(pid, std::chrono::seconds(10));
  }
  std::ifstream in(out_path);
  result.output.assign(std::istreambuf_iterator<char>(in), {});
  if (!status.isOk()) {
    result.output += "\n[killed after the deadline]";
  } else {
    result.exit_code = exitCode(*status);
  }
  return result;
}

Result<std::unique_ptr<BackgroundProcess>> BackgroundProcess::start(const std::vector<std::string>& argv) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return Status::fromErrno(errno, "pipe2");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 1);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  pid_t pid = 0;
  auto args = cArgs(argv);
  int rc = ::posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(pipe_fds[1]);
  if (rc != 0) {
    ::close(pipe_fds[0]);
    return Status::fromErrno(rc, "spawn " + argv[0]);
  }
  return std::unique_ptr<BackgroundProcess>(new BackgroundProcess(pid, pipe_fds[0]));
}

BackgroundProcess::~BackgroundProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    (void)waitWithDeadline(pid_, std::chrono::seconds(10));
  }
  ::close(stdout_fd_);
}

Result<std::string> BackgroundProcess::waitForLine(const std::string& prefix, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    size_t newline;
    while ((newline = buffered_.find('\n')) != std::string::npos) {
      std::string line = buffered_.substr(0, newline);
      buffered_.erase(0, newline + 1);
      if (line.rfind(prefix, 0) == 0) return line;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return Status(ErrorCode::kTimeout, "no line starting with '" + prefix + "'");
    pollfd p{stdout_fd_, POLLIN, 0};
    int rc = ::poll(&p, 1, static_cast<int>(left.count()));
    if (rc < 0 && errno != EINTR) return Status::fromErrno(errno, "poll child stdout");
    if (rc <= 0) continue;
    char buf[4096];
    ssize_t n = ::read(stdout_fd_, buf, sizeof(buf));
    if (n == 0) return Status(ErrorCode::kUnavailable, "child closed stdout before '" + prefix + "'");
    if (n > 0) buffered_.append(buf, static_cast<size_t>(n));
  }
}

Result<int> BackgroundProcess::stop(int signal, std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return Status(ErrorCode::kConflict, "already stopped");
  ::kill(pid_, signal);
  ASSIGN_OR_RETURN(int status, waitWithDeadline(pid_, timeout));
  pid_ = 0;
  return exitCode(status);
}

}  // namespace tandem::nbd::e2e
