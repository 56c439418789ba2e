// tandem-disk-fuse: the per-attachment process. Serves <dir>/mnt/disk, a FUSE file whose bytes
// are an NBD export, so that a loop device bound to it is a local block device of the volume.
//
//   tandem-disk-fuse --dir ATTACHMENT_DIR [--connections N] [--threads N] [--io-wait-ms MS]
//                    [--foreground] [--log-level debug|info|warn|error]
//
// --connections: NBD connections (default 4; a request takes a free one, FLUSH goes on all).
// --io-wait-ms: how long a request waits for a connected primary (reconnect or retarget) and is
// sent again there before it fails with EIO (default 30000; 0: fail at once).
// --threads: idle FUSE worker threads kept (default 8; libfuse's multithreaded loop).
// ATTACHMENT_DIR holds the spec file (volume, size, endpoint; see attachment_files.h) and the
// mount point `mnt`. Unless --foreground, the program detaches: the parent returns once the
// child has connected to NBD, mounted and written its pid file (exit 0), or with the child's
// error on stderr (exit 1; exit 3 when the NBD endpoint cannot be reached). The child runs in
// its own session with stdout/stderr appended to ATTACHMENT_DIR/log, so it outlives whoever
// started it (the node worker).
//
// Signals: SIGHUP re-reads the spec file and reconnects to its endpoint (retarget; I/O waits
// for the new connection as above). SIGUSR1 grows the file to the size in ATTACHMENT_DIR/grow
// once the export is that large (see NbdConnectionPool::grow). SIGTERM/SIGINT unmount and exit 0 — but only when nothing holds the
// file (the loop device must be detached first); while it is held the signal is logged and
// ignored, so a live device is never pulled away.
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <string_view>
#include <thread>

#include "disk_fuse_ops.h"
#include "tandem/attach/nbd_connection_pool.h"
#include "tandem/common/log.h"

namespace {

using tandem::Status;
using tandem::attach::NbdConnectionPool;

constexpr std::string_view kLog = "disk-fuse";
constexpr int kExitError = 1;
constexpr int kExitUsage = 2;
constexpr int kExitUnavailable = 3;

struct Options {
  std::string dir;
  unsigned connections = 4;
  unsigned threads = 8;
  unsigned io_wait_ms = 30000;
  bool foreground = false;
};

int usage(std::string_view error) {
  std::cerr << "tandem-disk-fuse: " << error << "\n"
            << "usage: tandem-disk-fuse --dir ATTACHMENT_DIR [--connections N] [--threads N] [--io-wait-ms MS]\n"
            << "                        [--foreground] [--log-level debug|info|warn|error]\n";
  return kExitUsage;
}

// A whole decimal number; `allow_zero` false refuses 0.
bool parseUnsigned(std::string_view text, unsigned* out, bool allow_zero = false) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size() && (allow_zero || *out > 0);
}

// Reports the start-up outcome to the waiting parent (or to stderr in the foreground).
class StartupReport {
 public:
  explicit StartupReport(int fd) : fd_(fd) {}
  void fail(int exit_code, const std::string& message) {
    tandem::log::error(kLog, message);
    send(std::to_string(exit_code) + " " + message);
  }
  void ready() { send("0"); }

 private:
  void send(const std::string& line) {
    if (fd_ < 0) return;
    [[maybe_unused]] ssize_t n = ::write(fd_, line.data(), line.size());
    ::close(fd_);
    fd_ = -1;
  }
  int fd_;
};

// The parent side of daemonising: waits for the child's report and exits with it.
int waitForChild(int fd) {
  std::string report;
  char buf[512];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
    if (n > 0) report.append(buf, static_cast<size_t>(n));
  }
  if (report.empty()) {
    std::cerr << "tandem-disk-fuse: the child died while starting (see its log)\n";
    return kExitError;
  }
  int code = kExitError;
  std::from_chars(report.data(), report.data() + report.size(), code);
  size_t space = report.find(' ');
  if (space != std::string::npos) std::cerr << "tandem-disk-fuse: " << report.substr(space + 1) << "\n";
  return code;
}

// Detaches from the caller: returns in the child (with the report pipe), exits in the parent.
int daemonise(const Options& options) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    std::perror("tandem-disk-fuse: pipe");
    std::exit(kExitError);
  }
  pid_t pid = ::fork();
  if (pid < 0) {
    std::perror("tandem-disk-fuse: fork");
    std::exit(kExitError);
  }
  if (pid > 0) {
    ::close(fds[1]);
    std::exit(waitForChild(fds[0]));
  }
  ::close(fds[0]);
  ::setsid();
  if (::chdir("/") != 0) std::exit(kExitError);
  int null_fd = ::open("/dev/null", O_RDWR);
  std::string log_path = options.dir + "/" + std::string(tandem::attach::kLogFile);
  int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  if (null_fd >= 0) ::dup2(null_fd, STDIN_FILENO);
  ::dup2(log_fd >= 0 ? log_fd : null_fd, STDOUT_FILENO);
  ::dup2(log_fd >= 0 ? log_fd : null_fd, STDERR_FILENO);
  if (null_fd > STDERR_FILENO) ::close(null_fd);
  if (log_fd > STDERR_FILENO) ::close(log_fd);
  return fds[1];
}

// Handles SIGHUP (retarget), SIGUSR1 (grow) and SIGTERM/SIGINT (unmount when unused, then the
// loop ends).
void signalLoop(sigset_t signals, NbdConnectionPool* pool, std::string mountpoint) {
  for (;;) {
    int received = 0;
    if (sigwait(&signals, &received) != 0) continue;
    if (received == SIGHUP) {
      pool->retarget();
      continue;
    }
    if (received == SIGUSR1) {
      pool->grow();
      continue;
    }
    if (::umount2(mountpoint.c_str(), UMOUNT_NOFOLLOW) == 0) {
      tandem::log::info(kLog, "unmounted " + mountpoint + "; exiting");
      return;  // the FUSE loop sees ENODEV and returns
    }
    tandem::log::warn(kLog, "signal " + std::to_string(received) + " ignored: cannot unmount " + mountpoint +
                                ": " + std::strerror(errno) + " (detach the loop device first)");
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--foreground") {
      options.foreground = true;
      continue;
    }
    if (i + 1 >= argc) return usage("unknown option or missing value: " + std::string(arg));
    std::string_view v = argv[++i];
    if (arg == "--dir") {
      options.dir = v;
    } else if (arg == "--connections") {
      if (!parseUnsigned(v, &options.connections)) return usage("bad --connections");
    } else if (arg == "--io-wait-ms") {
      if (!parseUnsigned(v, &options.io_wait_ms, /*allow_zero=*/true)) return usage("bad --io-wait-ms");
    } else if (arg == "--threads") {
      if (!parseUnsigned(v, &options.threads)) return usage("bad --threads");
    } else if (arg == "--log-level") {
      tandem::log::Level level;
      if (!tandem::log::parseLevel(v, &level)) return usage("bad log level");
      tandem::log::setLevel(level);
    } else {
      return usage("unknown option: " + std::string(arg));
    }
  }
  if (options.dir.empty() || options.dir[0] != '/') return usage("--dir must be an absolute path");

  StartupReport report(options.foreground ? -1 : daemonise(options));
  // Block the signals before any thread starts so that only signalLoop receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGHUP);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  NbdConnectionPool pool(options.dir, options.connections, std::chrono::milliseconds(options.io_wait_ms));
  if (Status s = pool.start(); !s.isOk()) {
    report.fail(s.code() == tandem::ErrorCode::kUnavailable ? kExitUnavailable : kExitError, s.toString());
    return kExitError;
  }

  std::string mountpoint = options.dir + "/" + std::string(tandem::attach::kMountDir);
  // The directory's name is the volume's (an object name: no comma to break the option list).
  std::string name = options.dir.substr(options.dir.find_last_of('/') + 1);
  std::string volume_opts = "-ofsname=tandem-disk:" + name + ",subtype=tandem-disk";
  char* fuse_argv[] = {argv[0], volume_opts.data(), nullptr};
  fuse_args args = FUSE_ARGS_INIT(2, fuse_argv);
  const fuse_lowlevel_ops& ops = tandem::attach::diskFuseOperations();
  fuse_session* se = fuse_session_new(&args, &ops, sizeof ops, &pool);
  fuse_opt_free_args(&args);
  if (se == nullptr) {
    report.fail(kExitError, "fuse_session_new failed");
    return kExitError;
  }
  if (fuse_session_mount(se, mountpoint.c_str()) != 0) {
    fuse_session_destroy(se);
    report.fail(kExitError, "cannot mount FUSE on " + mountpoint + " (is /dev/fuse usable?)");
    return kExitError;
  }
  std::string pid_path = options.dir + "/" + std::string(tandem::attach::kPidFile);
  if (Status s = tandem::attach::writeFileAtomically(pid_path, std::to_string(::getpid()) + "\n");
      !s.isOk()) {
    fuse_session_unmount(se);
    fuse_session_destroy(se);
    report.fail(kExitError, s.toString());
    return kExitError;
  }
  // After a grow the kernel must not keep the old size it cached (the loop device reads it at
  // `losetup -c`).
  pool.setOnGrown([se] { tandem::attach::invalidateDiskAttributes(se); });
  std::thread(signalLoop, signals, &pool, mountpoint).detach();
  tandem::log::info(kLog, "serving " + mountpoint + "/disk");
  report.ready();

  fuse_loop_config config{};
  config.clone_fd = 0;
  config.max_idle_threads = options.threads;
  int rc = fuse_session_loop_mt(se, &config);
  fuse_session_unmount(se);
  fuse_session_destroy(se);
  pool.stop();
  ::unlink(pid_path.c_str());
  tandem::log::info(kLog, "stopped");
  return rc == 0 ? 0 : kExitError;
}
