#include "metadata/replica_metadata.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <charconv>
#include <cstdio>
#include <vector>

#include "wire/crc32c.h"

namespace tandem::replication {
namespace {

constexpr std::string_view kFirstLineV1 = "tandem-replica-metadata 1";
constexpr std::string_view kFirstLine = "tandem-replica-metadata 2";

uint32_t textCrc(std::string_view text) {
  return wire::crc32c(std::span(reinterpret_cast<const std::byte*>(text.data()), text.size()));
}

std::string dirOf(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
}

Status fsyncDir(const std::string& dir) {
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return Status::fromErrno(errno, "open dir " + dir);
  int rc = ::fsync(dfd);
  int err = errno;
  ::close(dfd);
  if (rc != 0) return Status::fromErrno(err, "fsync dir " + dir);
  return Status::ok();
}

Status malformed(std::string_view why) {
  return Status(ErrorCode::kProtocol, "malformed replica metadata: " + std::string(why));
}

bool parseU64(std::string_view text, int base, uint64_t* out) {
  if (text.empty()) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out, base);
  return ec == std::errc() && end == text.data() + text.size();
}

Result<DiskState> parseDisk(std::string_view text) {
  for (DiskState s : {DiskState::kUpToDate, DiskState::kInconsistent, DiskState::kOutdated}) {
    if (text == diskStateName(s)) return s;
  }
  return malformed("unknown disk state");
}

Status writeAll(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::fromErrno(errno, "write " + path);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::ok();
}

}  // namespace

uint64_t initialGeneration(std::string_view volume_uuid) {
  // FNV-1a 64 over a domain-separated text.
  uint64_t h = 0xcbf29ce484222325ull;
  auto mix = [&h](std::string_view s) {
    for (char c : s) {
      h ^= static_cast<uint8_t>(c);
      h *= 0x100000001b3ull;
    }
  };
  mix("tandem-initial-generation:");
  mix(volume_uuid);
  return h == 0 ? 1 : h;
}

std::string formatGeneration(uint64_t generation) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s(16, '0');
  for (int i = 15; i >= 0; --i) {
    s[static_cast<size_t>(i)] = kHex[generation & 0xF];
    generation >>= 4;
  }
  return s;
}

void advanceGeneration(ReplicaMetadata& md, uint64_t g) {
  if (g == md.generation) return;
  std::erase(md.history, g);
  md.history.insert(md.history.begin(), md.generation);
  if (md.history.size() > kMaxHistory) md.history.resize(kMaxHistory);
  md.generation = g;
}

std::string formatMetadata(const ReplicaMetadata& md) {
  std::string s(kFirstLine);
  s += "\ngeneration " + formatGeneration(md.generation);
  s += "\ndisk " + std::string(diskStateName(md.disk));
  s += "\nepoch " + std::to_string(md.highest_epoch);
  s += "\nclean " + std::string(md.clean ? "1" : "0");
  s += "\nhistory";
  if (md.history.empty()) s += " -";
  for (size_t i = 0; i < md.history.size() && i < kMaxHistory; ++i) s += " " + formatGeneration(md.history[i]);
  s += "\n";
  char crc[9];
  std::snprintf(crc, sizeof(crc), "%08x", textCrc(s));
  s += "crc32c " + std::string(crc) + "\n";
  return s;
}

Result<ReplicaMetadata> parseMetadata(std::string_view text) {
  const std::string_view whole = text;
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    if (nl == std::string_view::npos) return malformed("missing final newline");
    lines.push_back(text.substr(0, nl));
    text.remove_prefix(nl + 1);
  }
  const bool v1 = lines.size() == 5 && lines[0] == kFirstLineV1;
  if (!v1 && (lines.size() != 7 || lines[0] != kFirstLine)) return malformed("bad header or line count");
  auto value = [&](size_t i, std::string_view key) -> std::optional<std::string_view> {
    std::string_view line = lines[i];
    if (line.size() <= key.size() + 1 || line.substr(0, key.size()) != key || line[key.size()] != ' ') {
      return std::nullopt;
    }
    return line.substr(key.size() + 1);
  };
  ReplicaMetadata md;
  auto gen = value(1, "generation");
  if (!gen || gen->size() != 16 || !parseU64(*gen, 16, &md.generation)) return malformed("generation");
  auto disk = value(2, "disk");
  if (!disk) return malformed("disk");
  ASSIGN_OR_RETURN(md.disk, parseDisk(*disk));
  auto epoch = value(3, "epoch");
  if (!epoch || !parseU64(*epoch, 10, &md.highest_epoch)) return malformed("epoch");
  auto clean = value(4, "clean");
  if (!clean || (*clean != "0" && *clean != "1")) return malformed("clean");
  md.clean = *clean == "1";
  if (v1) return md;
  auto crc = value(6, "crc32c");
  uint64_t stored = 0;
  if (!crc || crc->size() != 8 || !parseU64(*crc, 16, &stored)) return malformed("crc32c");
  if (stored != textCrc(whole.substr(0, whole.size() - lines[6].size() - 1))) {
    return malformed("checksum mismatch");
  }
  auto history = value(5, "history");
  if (!history) return malformed("history");
  if (*history != "-") {
    std::string_view rest = *history;
    while (true) {
      std::string_view item = rest.substr(0, rest.find(' '));
      uint64_t g = 0;
      if (item.size() != 16 || !parseU64(item, 16, &g) || md.history.size() >= kMaxHistory) {
        return malformed("history");
      }
      md.history.push_back(g);
      if (item.size() == rest.size()) break;
      rest.remove_prefix(item.size() + 1);
    }
  }
  return md;
}

Result<std::optional<ReplicaMetadata>> loadMetadata(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<ReplicaMetadata>();
    return Status::fromErrno(errno, "open " + path);
  }
  std::string text;
  char buf[512];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return Status::fromErrno(err, "read " + path);
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > 8192) {
      ::close(fd);
      return malformed("file too large: " + path);
    }
  }
  ::close(fd);
  auto md = parseMetadata(text);
  if (!md.isOk()) return md.status().withContext(path);
  return std::optional<ReplicaMetadata>(*md);
}

Status saveMetadata(const std::string& path, const ReplicaMetadata& md) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::fromErrno(errno, "create " + tmp);
  Status st = writeAll(fd, formatMetadata(md), tmp);
  if (st.isOk() && ::fsync(fd) != 0) st = Status::fromErrno(errno, "fsync " + tmp);
  ::close(fd);
  if (!st.isOk()) {
    ::unlink(tmp.c_str());
    return st;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return Status::fromErrno(err, "rename " + tmp);
  }
  return fsyncDir(dirOf(path));
}

Status removeMetadata(const std::string& path) {
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT) return Status::ok();
    return Status::fromErrno(errno, "unlink " + path);
  }
  ::unlink((path + ".tmp").c_str());
  return fsyncDir(dirOf(path));
}

}  // namespace tandem::replication
