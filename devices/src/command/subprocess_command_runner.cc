// fork/execvp with captured stdout/stderr and a deadline. Everything the child does between
// fork and exec is async-signal-safe: argv and envp are built before fork.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>

#include "tandem/common/clock.h"
#include "tandem/devices/command_runner.h"

extern char** environ;

namespace tandem::devices {
namespace {

// Closes the fds it holds on every path.
class FdPair {
 public:
  FdPair() = default;
  FdPair(const FdPair&) = delete;
  FdPair& operator=(const FdPair&) = delete;
  ~FdPair() {
    closeRead();
    closeWrite();
  }
  bool open() { return ::pipe2(fds_, O_CLOEXEC) == 0; }
  int readFd() const { return fds_[0]; }
  int writeFd() const { return fds_[1]; }
  void closeRead() {
    if (fds_[0] >= 0) ::close(fds_[0]);
    fds_[0] = -1;
  }
  void closeWrite() {
    if (fds_[1] >= 0) ::close(fds_[1]);
    fds_[1] = -1;
  }

 private:
  int fds_[2] = {-1, -1};
};

std::vector<std::string> childEnvironment() {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    if (std::strncmp(*e, "LC_ALL=", 7) != 0) env.emplace_back(*e);
  }
  env.emplace_back("LC_ALL=C");
  return env;
}

std::vector<char*> cArray(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

int exitCodeOf(int wstatus) {
  if (WIFEXITED(wstatus)) return WEXITSTATUS(wstatus);
  if (WIFSIGNALED(wstatus)) return 128 + WTERMSIG(wstatus);
  return -1;
}

pid_t waitForChild(pid_t pid, int* wstatus) {
  pid_t r;
  do {
    r = ::waitpid(pid, wstatus, 0);
  } while (r < 0 && errno == EINTR);
  return r;
}

}  // namespace

std::string formatCommandLine(const std::vector<std::string>& argv) {
  std::string line;
  for (const auto& arg : argv) {
    if (!line.empty()) line += ' ';
    if (arg.empty() || arg.find_first_of(" \t\n'\"") != std::string::npos) {
      line += '\'' + arg + '\'';
    } else {
      line += arg;
    }
  }
  return line;
}

Status commandFailed(ErrorCode code, const std::vector<std::string>& argv, const CommandOutput& out) {
  std::string err = out.stderr_text;
  while (!err.empty() && std::isspace(static_cast<unsigned char>(err.back()))) err.pop_back();
  size_t start = 0;
  while (start < err.size() && std::isspace(static_cast<unsigned char>(err[start]))) ++start;
  err.erase(0, start);
  if (err.empty()) err = "(no stderr)";
  return Status(code,
                "`" + formatCommandLine(argv) + "` exited " + std::to_string(out.exit_code) + ": " + err);
}

Result<CommandOutput> SubprocessCommandRunner::run(const std::vector<std::string>& argv) {
  if (argv.empty() || argv[0].empty()) {
    return Status(ErrorCode::kInvalidArgument, "run: empty command line");
  }
  const std::string cmdline = formatCommandLine(argv);
  std::vector<std::string> args = argv;
  std::vector<std::string> env = childEnvironment();
  std::vector<char*> c_args = cArray(args);
  std::vector<char*> c_env = cArray(env);

  FdPair out_pipe, err_pipe, exec_pipe;
  if (!out_pipe.open() || !err_pipe.open() || !exec_pipe.open()) {
    return Status::fromErrno(errno, "pipe for `" + cmdline + "`");
  }
  int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (devnull < 0) return Status::fromErrno(errno, "open /dev/null for `" + cmdline + "`");

  pid_t pid = ::fork();
  if (pid < 0) {
    int err = errno;
    ::close(devnull);
    return Status::fromErrno(err, "fork for `" + cmdline + "`");
  }
  if (pid == 0) {
    // Child: only async-signal-safe calls from here to exec.
    ::setpgid(0, 0);
    ::dup2(devnull, STDIN_FILENO);
    ::dup2(out_pipe.writeFd(), STDOUT_FILENO);
    ::dup2(err_pipe.writeFd(), STDERR_FILENO);
    ::signal(SIGPIPE, SIG_DFL);
    ::execvpe(c_args[0], c_args.data(), c_env.data());
    int err = errno;
    ssize_t ignored = ::write(exec_pipe.writeFd(), &err, sizeof(err));
    (void)ignored;
    ::_exit(127);
  }
  ::close(devnull);
  ::setpgid(pid, pid);  // also done in the child; whichever runs first wins the race
  out_pipe.closeWrite();
  err_pipe.closeWrite();
  exec_pipe.closeWrite();

  // exec_pipe's write end is O_CLOEXEC: EOF means exec succeeded, 4 bytes mean it failed.
  int exec_errno = 0;
  ssize_t n;
  do {
    n = ::read(exec_pipe.readFd(), &exec_errno, sizeof(exec_errno));
  } while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(sizeof(exec_errno))) {
    int wstatus = 0;
    waitForChild(pid, &wstatus);
    return Status::fromErrno(exec_errno, "exec `" + cmdline + "`");
  }

  CommandOutput result;
  const Clock& clock = RealClock::instance();
  const auto deadline = clock.steadyNow() + timeout_;
  bool timed_out = false;
  pollfd fds[2] = {{out_pipe.readFd(), POLLIN, 0}, {err_pipe.readFd(), POLLIN, 0}};
  std::string* sinks[2] = {&result.stdout_text, &result.stderr_text};
  char buf[65536];
  while (fds[0].fd >= 0 || fds[1].fd >= 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock.steadyNow());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    int ready = ::poll(fds, 2, static_cast<int>(std::min<int64_t>(left.count() + 1, 1 << 30)));
    if (ready < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::kill(-pid, SIGKILL);
      int wstatus = 0;
      waitForChild(pid, &wstatus);
      return Status::fromErrno(err, "poll output of `" + cmdline + "`");
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      ssize_t got = ::read(fds[i].fd, buf, sizeof(buf));
      if (got > 0) {
        sinks[i]->append(buf, static_cast<size_t>(got));
      } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
        fds[i].fd = -1;  // EOF (or a read error: stop listening)
      }
    }
  }

  if (timed_out) {
    ::kill(-pid, SIGKILL);  // the whole process group: a tool's own children too
    ::kill(pid, SIGKILL);   // in case setpgid lost a race with exec
    int wstatus = 0;
    waitForChild(pid, &wstatus);
    return Status(ErrorCode::kTimeout, "`" + cmdline + "` did not finish within " +
                                           std::to_string(timeout_.count()) + " ms; killed");
  }
  // Both pipes are closed: the child has exited or closed its outputs. Wait, but honour the
  // deadline for a child that closed stdout/stderr and keeps running.
  int wstatus = 0;
  for (;;) {
    pid_t r = ::waitpid(pid, &wstatus, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) return Status::fromErrno(errno, "waitpid `" + cmdline + "`");
    if (clock.steadyNow() >= deadline) {
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      waitForChild(pid, &wstatus);
      return Status(ErrorCode::kTimeout, "`" + cmdline + "` did not finish within " +
                                             std::to_string(timeout_.count()) + " ms; killed");
    }
    // The child closed its outputs: it is exiting or daemonised; poll its exit at a slow pace.
    pollfd none{-1, 0, 0};
    ::poll(&none, 0, 10);
  }
  result.exit_code = exitCodeOf(wstatus);
  return result;
}

}  // namespace tandem::devices
