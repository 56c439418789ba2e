#include "device_users.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <charconv>
#include <filesystem>

#include "tandem/attach/attachment_files.h"

namespace tandem::attach {
namespace {

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      int v = 0;
      auto [end, ec] = std::from_chars(s.data() + i + 1, s.data() + i + 4, v, 8);
      if (ec == std::errc() && end == s.data() + i + 4) {
        out.push_back(static_cast<char>(v));
        i += 3;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

// Calls f(major_minor, mount_point) for each mountinfo line.
template <typename F>
void forEachMount(std::string_view text, F f) {
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    std::string_view fields[5];
    size_t n = 0;
    while (n < 5 && !line.empty()) {
      size_t sp = line.find(' ');
      fields[n++] = line.substr(0, sp);
      line = sp == std::string_view::npos ? std::string_view() : line.substr(sp + 1);
    }
    if (n == 5) f(fields[2], unescape(fields[4]));
  }
}

}  // namespace

std::string DeviceUsers::describe() const {
  std::string out;
  for (const auto& m : mount_points) out += "mounted on " + m + "; ";
  for (const auto& h : holders) out += "held by " + h + "; ";
  if (exclusive_open) out += "opened exclusively; ";
  for (int pid : opener_pids) out += "open by pid " + std::to_string(pid) + "; ";
  if (out.size() >= 2) out.resize(out.size() - 2);
  return out;
}

std::vector<std::string> mountPointsOf(std::string_view mountinfo, dev_t device) {
  std::string wanted = std::to_string(major(device)) + ":" + std::to_string(minor(device));
  std::vector<std::string> out;
  forEachMount(mountinfo, [&](std::string_view dev, std::string point) {
    if (dev == wanted) out.push_back(std::move(point));
  });
  return out;
}

bool isMountPoint(std::string_view mountinfo, std::string_view path) {
  bool found = false;
  forEachMount(mountinfo,
               [&](std::string_view, const std::string& point) { found = found || point == path; });
  return found;
}

Result<DeviceUsers> findDeviceUsers(const std::string& device_path, const std::string& proc_root,
                                    const std::string& sys_root) {
  struct stat st;
  if (::stat(device_path.c_str(), &st) != 0) return Status::fromErrno(errno, "stat " + device_path);
  DeviceUsers users;
  ASSIGN_OR_RETURN(std::string mountinfo, readWholeFile(proc_root + "/self/mountinfo"));
  users.mount_points = mountPointsOf(mountinfo, st.st_rdev);

  std::string name = std::filesystem::path(device_path).filename();
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(sys_root + "/block/" + name + "/holders", ec)) {
    users.holders.push_back(e.path().filename());
  }

  // Processes with the device open (this one included: the manager itself never keeps it open).
  for (const auto& proc : std::filesystem::directory_iterator(proc_root, ec)) {
    std::string pid = proc.path().filename();
    if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) continue;
    std::error_code fd_ec;
    for (const auto& fd : std::filesystem::directory_iterator(proc.path() / "fd", fd_ec)) {
      struct stat target;
      if (::stat(fd.path().c_str(), &target) == 0 && S_ISBLK(target.st_mode) &&
          target.st_rdev == st.st_rdev) {
        users.opener_pids.push_back(std::stoi(pid));
        break;
      }
    }
  }

  // O_EXCL on a block device fails with EBUSY while it is mounted or claimed by someone.
  int fd = ::open(device_path.c_str(), O_RDONLY | O_EXCL | O_CLOEXEC);
  if (fd >= 0) {
    ::close(fd);
  } else if (errno == EBUSY) {
    users.exclusive_open = true;
  }
  return users;
}

}  // namespace tandem::attach
