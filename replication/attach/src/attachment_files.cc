#include "tandem/attach/attachment_files.h"

#include <fcntl.h>
#include <unistd.h>

#include <charconv>
#include <map>

namespace tandem::attach {
namespace {

std::map<std::string, std::string, std::less<>> parseLines(std::string_view text) {
  std::map<std::string, std::string, std::less<>> out;
  while (!text.empty()) {
    size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    size_t eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    out.emplace(std::string(line.substr(0, eq)), std::string(line.substr(eq + 1)));
  }
  return out;
}

template <typename T>
Status field(const std::map<std::string, std::string, std::less<>>& fields, std::string_view key, T* out) {
  auto it = fields.find(key);
  if (it == fields.end()) return Status(ErrorCode::kInvalidArgument, "missing field " + std::string(key));
  if constexpr (std::is_same_v<T, std::string>) {
    *out = it->second;
  } else {
    const std::string& v = it->second;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), *out);
    if (ec != std::errc() || end != v.data() + v.size()) {
      return Status(ErrorCode::kInvalidArgument, "bad number in field " + std::string(key) + ": " + v);
    }
  }
  return Status::ok();
}

constexpr std::string_view linkStateName(LinkState state) {
  return state == LinkState::kConnected ? "connected" : "disconnected";
}

}  // namespace

std::string NbdEndpoint::describe() const {
  if (isUnix()) return "nbd+unix:///" + export_name + "?socket=" + unix_path;
  return "nbd://" + tcp_host + ":" + std::to_string(tcp_port) + "/" + export_name;
}

Status validateEndpoint(const NbdEndpoint& e) {
  bool tcp = !e.tcp_host.empty();
  if (tcp == e.isUnix()) {
    return Status(ErrorCode::kInvalidArgument,
                  "an NBD endpoint needs exactly one of a TCP host and a UNIX socket");
  }
  if (tcp && e.tcp_port == 0) return Status(ErrorCode::kInvalidArgument, "NBD endpoint: TCP port 0");
  for (const std::string* s : {&e.tcp_host, &e.unix_path, &e.export_name}) {
    if (s->find('\n') != std::string::npos) {
      return Status(ErrorCode::kInvalidArgument, "NBD endpoint: newline in a field");
    }
  }
  return Status::ok();
}

std::string encodeSpec(const AttachmentSpecFile& s) {
  return "volume=" + s.volume + "\nsize=" + std::to_string(s.size_bytes) +
         "\nexport=" + s.endpoint.export_name + "\ntcp_host=" + s.endpoint.tcp_host +
         "\ntcp_port=" + std::to_string(s.endpoint.tcp_port) + "\nunix_path=" + s.endpoint.unix_path +
         "\ngeneration=" + std::to_string(s.generation) + "\nvolume_uuid=" + s.volume_uuid + "\n";
}

Result<AttachmentSpecFile> decodeSpec(std::string_view text) {
  auto fields = parseLines(text);
  AttachmentSpecFile s;
  RETURN_IF_ERROR(field(fields, "volume", &s.volume));
  RETURN_IF_ERROR(field(fields, "size", &s.size_bytes));
  RETURN_IF_ERROR(field(fields, "export", &s.endpoint.export_name));
  RETURN_IF_ERROR(field(fields, "tcp_host", &s.endpoint.tcp_host));
  RETURN_IF_ERROR(field(fields, "tcp_port", &s.endpoint.tcp_port));
  RETURN_IF_ERROR(field(fields, "unix_path", &s.endpoint.unix_path));
  RETURN_IF_ERROR(field(fields, "generation", &s.generation));
  if (fields.count("volume_uuid")) RETURN_IF_ERROR(field(fields, "volume_uuid", &s.volume_uuid));
  RETURN_IF_ERROR(validateEndpoint(s.endpoint).withContext("spec"));
  if (s.volume.empty() || s.size_bytes == 0)
    return Status(ErrorCode::kInvalidArgument, "spec: empty volume or size");
  return s;
}

std::string encodeStatus(const AttachmentStatusFile& s) {
  std::string error = s.error;
  for (char& c : error) {
    if (c == '\n') c = ' ';
  }
  return "generation=" + std::to_string(s.generation) + "\nstate=" + std::string(linkStateName(s.state)) +
         "\nerror=" + error + "\n";
}

Result<AttachmentStatusFile> decodeStatus(std::string_view text) {
  auto fields = parseLines(text);
  AttachmentStatusFile s;
  std::string state;
  RETURN_IF_ERROR(field(fields, "generation", &s.generation));
  RETURN_IF_ERROR(field(fields, "state", &state));
  RETURN_IF_ERROR(field(fields, "error", &s.error));
  if (state == linkStateName(LinkState::kConnected)) {
    s.state = LinkState::kConnected;
  } else if (state == linkStateName(LinkState::kDisconnected)) {
    s.state = LinkState::kDisconnected;
  } else {
    return Status(ErrorCode::kInvalidArgument, "status: bad state " + state);
  }
  return s;
}

Status writeFileAtomically(const std::string& path, std::string_view contents) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::fromErrno(errno, "create " + tmp);
  size_t done = 0;
  while (done < contents.size()) {
    ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Status s = Status::fromErrno(errno, "write " + tmp);
      ::close(fd);
      ::unlink(tmp.c_str());
      return s;
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    Status s = Status::fromErrno(errno, "fsync " + tmp);
    ::unlink(tmp.c_str());
    return s;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    Status s = Status::fromErrno(errno, "rename " + tmp);
    ::unlink(tmp.c_str());
    return s;
  }
  return Status::ok();
}

Result<std::string> readWholeFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::fromErrno(errno, "open " + path);
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Status s = Status::fromErrno(errno, "read " + path);
      ::close(fd);
      return s;
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

}  // namespace tandem::attach
