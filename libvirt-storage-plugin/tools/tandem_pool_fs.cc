// tandem-pool-fs: the volumes of one Tandem resource group as files, for a libvirt `dir` pool.
// Mounts a FUSE file system (libfuse3 low-level API, allow_other, default_permissions) on
// --mount; the volumes are the files of <mount>/volumes (see pool_fs.h for every semantic).
// Runs in the foreground until SIGTERM/SIGINT, which unmount (refused, and logged, while a file
// is open: a running domain's disk is never pulled away) and detach what it attached.
//
// Options (flags or a --config file of `name = value` lines): see --help.
#include <dirent.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>

#include "pool_fs_ops.h"
#include "tandem/common/log.h"
#include "tandem/common/object_name.h"
#include "tandem/config/daemon.h"
#include "tandem/config/options.h"
#include "tandem/poolfs/attr_store.h"
#include "tandem/poolfs/pool_fs.h"
#include "tandem/poolfs/volume_api.h"
#include "tandem/poolfs/volume_io.h"

namespace {

using tandem::config::OptionSpec;
using tandem::config::OptionType;

constexpr std::string_view kLog = "pool-fs";

std::vector<OptionSpec> optionTable() {
  return {
      {"group", OptionType::kString, "", "the resource group whose volumes are served (required)"},
      {"mount", OptionType::kString, "", "mount point, an existing empty directory (required)"},
      {"controller-url", OptionType::kString, "", "controller API, e.g. https://127.0.0.1:8443 (required)"},
      {"token-file", OptionType::kString, "", "file holding an admin or service token (required)"},
      {"ca-file", OptionType::kString, "", "PEM CA bundle to verify the controller (default: system store)"},
      {"node-name", OptionType::kString, "",
       "this host's Tandem node name: files opened for writing are attached here (empty: read-only)"},
      {"state-dir", OptionType::kString, "/var/lib/tandem/pool-fs",
       "where the files' owner/mode are kept (attrs-<group>)"},
      {"connections", OptionType::kUint, "4", "NBD connections per open volume"},
      {"io-wait", OptionType::kDuration, "15s",
       "how long a request whose NBD connection broke waits for a reconnect before it fails (EIO)"},
      {"threads", OptionType::kUint, "16", "idle FUSE worker threads kept (multithreaded loop)"},
      {"metadata-ttl", OptionType::kDuration, "1s", "how long listings and the kernel's attributes are reused"},
      {"wait-timeout", OptionType::kDuration, "60s", "wait for a new volume, an attachment, a grown export"},
      {"writeback-cache", OptionType::kBool, "false",
       "FUSE writeback cache (faster small writes; errors surface at fsync; one writer host only)"},
      {"splice", OptionType::kBool, "false", "move data through pipes (splice) instead of copying"},
      {"max-write", OptionType::kUint, "1048576", "bytes per FUSE write request (4096-1048576)"},
      tandem::config::logLevelOption(),
  };
}

int fail(const std::string& message) {
  std::cerr << "tandem-pool-fs: " << message << "\n";
  return 1;
}

// Whether `dir` is a directory with nothing in it (refusing to hide files under the mount).
tandem::Status checkEmptyDirectory(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return tandem::Status::fromErrno(errno, "open mount point " + dir);
  std::string found;
  while (dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) {
      found = e->d_name;
      break;
    }
  }
  ::closedir(d);
  if (!found.empty()) {
    return tandem::Status(tandem::ErrorCode::kConflict,
                          "mount point " + dir + " is not empty (it holds '" + found + "'); refusing to hide it");
  }
  return tandem::Status::ok();
}

void signalLoop(sigset_t signals, std::string mountpoint) {
  for (;;) {
    int received = 0;
    if (sigwait(&signals, &received) != 0) continue;
    if (::umount2(mountpoint.c_str(), UMOUNT_NOFOLLOW) == 0) {
      tandem::log::info(kLog, "unmounted " + mountpoint + "; exiting");
      return;  // the FUSE loop sees ENODEV and returns
    }
    tandem::log::warn(kLog, "signal " + std::to_string(received) + " ignored: cannot unmount " + mountpoint + ": " +
                                std::strerror(errno) + " (close the files first: stop the domains using them)");
  }
}

}  // namespace

int main(int argc, char** argv) {
  tandem::config::Options options(optionTable());
  if (auto s = options.parse(argc, argv); !s.isOk()) return fail(s.message());
  if (options.helpRequested()) {
    std::cout << options.helpText("tandem-pool-fs",
                                  "The volumes of a Tandem resource group as files of a FUSE mount (libvirt dir pool).");
    return 0;
  }
  if (auto s = tandem::config::applyLogLevel(options); !s.isOk()) return fail(s.message());
  for (const char* required : {"group", "mount", "controller-url", "token-file"}) {
    if (options.string(required).empty()) return fail(std::string("--") + required + " is required");
  }
  if (!tandem::isValidObjectName(options.string("group"))) return fail("--group is not a valid group name");
  uint64_t max_write = options.uint("max-write");
  if (max_write < 4096 || max_write > (1 << 20)) return fail("--max-write must be 4096-1048576");
  std::string mountpoint = std::filesystem::absolute(options.string("mount")).lexically_normal().string();
  if (mountpoint.size() > 1 && mountpoint.back() == '/') mountpoint.pop_back();
  if (auto s = checkEmptyDirectory(mountpoint); !s.isOk()) return fail(s.message());

  std::ifstream token_in(options.string("token-file"));
  std::string token;
  std::getline(token_in, token);
  if (token.empty()) return fail("cannot read a token from " + options.string("token-file"));

  std::error_code ec;
  std::filesystem::create_directories(options.string("state-dir"), ec);
  if (ec) return fail("cannot create " + options.string("state-dir") + ": " + ec.message());
  tandem::poolfs::AttrStore attrs(options.string("state-dir") + "/attrs-" + options.string("group"));
  if (auto s = attrs.load(); !s.isOk()) return fail(s.message());

  tandem::poolfs::ApiOptions api_options;
  api_options.url = options.string("controller-url");
  api_options.token = token;
  api_options.ca_file = options.string("ca-file");
  auto api = tandem::poolfs::makeHttpsVolumeApi(api_options);
  if (!api.isOk()) return fail("controller client: " + api.status().message());

  tandem::poolfs::PoolFsOptions fs_options;
  fs_options.group = options.string("group");
  fs_options.node_name = options.string("node-name");
  fs_options.metadata_ttl = options.duration("metadata-ttl");
  fs_options.wait_timeout = options.duration("wait-timeout");
  unsigned connections = static_cast<unsigned>(std::max<uint64_t>(1, std::min<uint64_t>(options.uint("connections"), 64)));
  // Each open volume's connections are described by a directory under <state-dir>/io-<group>
  // (left over from a crash: removed here).
  std::string io_dir = options.string("state-dir") + "/io-" + options.string("group");
  std::filesystem::remove_all(io_dir, ec);
  tandem::poolfs::PoolFs fs(fs_options, **api, attrs,
                            tandem::poolfs::nbdVolumeIoFactory(connections, io_dir, options.duration("io-wait")),
                            tandem::RealClock::instance());
  if (auto s = fs.start(); !s.isOk()) return fail("resource group " + fs_options.group + ": " + s.toString());

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  tandem::poolfs::FuseContext context;
  context.fs = &fs;
  context.tuning.attr_timeout = options.duration("metadata-ttl");
  context.tuning.writeback_cache = options.boolean("writeback-cache");
  context.tuning.splice = options.boolean("splice");
  context.tuning.max_write = static_cast<unsigned>(max_write);
  std::string mount_opts = "-oallow_other,default_permissions,fsname=tandem-pool:" + fs_options.group +
                           ",subtype=tandem-pool,max_read=" + std::to_string(max_write);
  char* fuse_argv[] = {argv[0], mount_opts.data(), nullptr};
  fuse_args args = FUSE_ARGS_INIT(2, fuse_argv);
  const fuse_lowlevel_ops& ops = tandem::poolfs::poolFuseOperations();
  fuse_session* se = fuse_session_new(&args, &ops, sizeof ops, &context);
  fuse_opt_free_args(&args);
  if (se == nullptr) return fail("fuse_session_new failed");
  if (fuse_session_mount(se, mountpoint.c_str()) != 0) {
    fuse_session_destroy(se);
    return fail("cannot mount FUSE on " + mountpoint + " (is /dev/fuse usable?)");
  }
  std::thread(signalLoop, signals, mountpoint).detach();
  tandem::log::info(kLog, "serving resource group " + fs_options.group + " at " + mountpoint + "/" +
                              tandem::poolfs::PoolFs::kVolumesDir);

  fuse_loop_config config{};
  config.clone_fd = 0;
  config.max_idle_threads = static_cast<unsigned>(std::max<uint64_t>(1, options.uint("threads")));
  int rc = fuse_session_loop_mt(se, &config);
  fuse_session_unmount(se);
  fuse_session_destroy(se);
  fs.shutdown();
  tandem::log::info(kLog, "stopped");
  return rc == 0 ? 0 : 1;
}
