#include "tandem/cli/volume_transfer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ostream>
#include <vector>

#include <rapidjson/document.h>

#include "tandem/cli/render.h"
#include "tandem/http/url.h"

namespace tandem::cli {
namespace {

constexpr size_t kZeroBlock = 64 * 1024;  // export: holes are made of whole blocks of this size

std::string dataPath(const std::string& volume) { return "/v1/volumes/" + http::percentEncode(volume) + "/data"; }

// The server's refusal as renderApiError shows it, without its "error: " (the caller adds one).
Status refused(const http::Response& r) {
  std::string text = renderApiError(r.status, r.body);
  if (text.rfind("error: ", 0) == 0) text.erase(0, 7);
  return Status(ErrorCode::kUnprocessable, text);
}

Status fileError(const std::string& what, const std::string& file) {
  return Status::fromErrno(errno, what + " " + file);
}

// memcmp against a block of zeroes: libc's vectorised compare, not a byte loop.
bool allZero(const char* p, size_t n) {
  static const char kZeroes[kZeroBlock] = {};
  for (size_t done = 0; done < n; done += kZeroBlock) {
    if (std::memcmp(p + done, kZeroes, std::min(kZeroBlock, n - done)) != 0) return false;
  }
  return true;
}

// The volume's size from GET /v1/volumes/{v}.
Result<uint64_t> volumeSize(ApiTransport& api, const std::string& volume) {
  ASSIGN_OR_RETURN(http::Response r, api.call("GET", "/v1/volumes/" + http::percentEncode(volume), ""));
  if (r.status != 200) return refused(r);
  rapidjson::Document doc;
  doc.Parse(r.body.c_str());
  if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("size_bytes") || !doc["size_bytes"].IsUint64()) {
    return Status(ErrorCode::kProtocol, "the controller's volume has no size_bytes");
  }
  return doc["size_bytes"].GetUint64();
}

Status writeAll(int fd, const char* p, size_t n, uint64_t offset, bool positional, const std::string& file) {
  while (n > 0) {
    ssize_t w = positional ? ::pwrite(fd, p, n, static_cast<off_t>(offset)) : ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return fileError("write", file);
    }
    p += w;
    n -= static_cast<size_t>(w);
    offset += static_cast<uint64_t>(w);
  }
  return Status::ok();
}

// Reads up to `n` bytes (fewer only at the end of the input).
Result<size_t> readFull(int fd, char* p, size_t n, uint64_t offset, bool positional, const std::string& file) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = positional ? ::pread(fd, p + got, n - got, static_cast<off_t>(offset + got)) : ::read(fd, p + got, n - got);
    if (r < 0) {
      if (errno == EINTR) continue;
      return fileError("read", file);
    }
    if (r == 0) break;
    got += static_cast<size_t>(r);
  }
  return got;
}

// Whether [offset, offset+n) of a regular file is one hole (SEEK_DATA finds no data in it).
bool isHole(int fd, uint64_t offset, uint64_t n) {
  off_t data = ::lseek(fd, static_cast<off_t>(offset), SEEK_DATA);
  if (data < 0) return errno == ENXIO;
  return static_cast<uint64_t>(data) >= offset + n;
}

Status resumeHint(Status s, uint64_t at) {
  return Status(s.code(), s.message() + " (resume with --offset " + std::to_string(at) + ")");
}

double secondsSince(const Clock& clock, std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(clock.steadyNow() - start).count();
}

class ProgressBar final : public TransferProgress {
 public:
  ProgressBar(std::ostream& out, const Clock& clock) : out_(out), clock_(clock), start_(clock.steadyNow()) {}
  void update(uint64_t done, uint64_t total) override {
    auto now = clock_.steadyNow();
    if (drawn_ && now - last_ < std::chrono::milliseconds(200) && done != total) return;
    last_ = now;
    drawn_ = true;
    double seconds = std::chrono::duration<double>(now - start_).count();
    double rate = seconds > 0 ? static_cast<double>(done) / seconds : 0;
    char line[160];
    if (total > 0) {
      int width = 30;
      int filled = static_cast<int>(static_cast<double>(done) / static_cast<double>(total) * width);
      std::string bar(static_cast<size_t>(filled), '#');
      bar.resize(static_cast<size_t>(width), '.');
      std::snprintf(line, sizeof line, "\r[%s] %5.1f%% %s / %s  %s/s   ", bar.c_str(),
                    100.0 * static_cast<double>(done) / static_cast<double>(total), formatBytes(done).c_str(),
                    formatBytes(total).c_str(), formatBytes(static_cast<uint64_t>(rate)).c_str());
    } else {
      std::snprintf(line, sizeof line, "\r%s  %s/s   ", formatBytes(done).c_str(),
                    formatBytes(static_cast<uint64_t>(rate)).c_str());
    }
    out_ << line << std::flush;
  }
  void finish() override {
    if (drawn_) out_ << "\n" << std::flush;
  }

 private:
  static std::string formatBytes(uint64_t n) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = static_cast<double>(n);
    int u = 0;
    while (v >= 1024 && u < 4) {
      v /= 1024;
      ++u;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
    return buf;
  }
  std::ostream& out_;
  const Clock& clock_;
  std::chrono::steady_clock::time_point start_, last_;
  bool drawn_ = false;
};

class Fd {
 public:
  explicit Fd(int fd, bool owned) : fd_(fd), owned_(owned) {}
  ~Fd() {
    if (owned_ && fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
  bool owned_;
};

}  // namespace

std::unique_ptr<TransferProgress> makeProgressBar(std::ostream& out, const Clock& clock) {
  return std::make_unique<ProgressBar>(out, clock);
}

Result<TransferReport> exportVolume(ApiTransport& api, const TransferRequest& request, TransferProgress* progress,
                                    const Clock& clock) {
  const auto start = clock.steadyNow();
  ASSIGN_OR_RETURN(uint64_t size, volumeSize(api, request.volume));
  if (request.offset > size) {
    return Status(ErrorCode::kInvalidArgument, "--offset " + std::to_string(request.offset) + " is past the volume's " +
                                                   std::to_string(size) + " bytes");
  }
  const bool to_stdout = request.file == "-";
  int fd = to_stdout ? STDOUT_FILENO : ::open(request.file.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return fileError("open", request.file);
  Fd file(fd, !to_stdout);
  struct stat st {};
  if (::fstat(fd, &st) != 0) return fileError("stat", request.file);
  // A regular file is written sparse: cut at the offset (what is after it is from an earlier
  // run) and grown to the volume's size as a hole; zero blocks are then simply not written.
  const bool sparse = S_ISREG(st.st_mode);
  if (sparse) {
    if (::ftruncate(fd, static_cast<off_t>(request.offset)) != 0 || ::ftruncate(fd, static_cast<off_t>(size)) != 0) {
      return fileError("truncate", request.file);
    }
  }
  TransferReport report;
  report.size_bytes = size;
  report.offset = request.offset;
  const std::string path = dataPath(request.volume);
  for (uint64_t at = request.offset; at < size;) {
    uint64_t end = std::min(size, at + kTransferChunk);
    auto r = api.call("GET", path, "", {{"Range", "bytes=" + std::to_string(at) + "-" + std::to_string(end - 1)}});
    if (!r.isOk()) return resumeHint(r.status(), at);
    if (r->status != 206) return resumeHint(refused(*r), at);
    if (r->body.size() != end - at) {
      return resumeHint(Status(ErrorCode::kUnavailable, "the controller sent " + std::to_string(r->body.size()) +
                                                            " bytes of " + std::to_string(end - at)),
                        at);
    }
    const char* data = r->body.data();
    const uint64_t length = end - at;
    if (!sparse) {
      RETURN_IF_ERROR(resumeHint(writeAll(fd, data, static_cast<size_t>(length), at, false, request.file), at));
    } else {
      // One pwrite per run of non-zero blocks; zero blocks stay holes.
      uint64_t run = 0, run_end = 0;  // the pending run [run, run_end)
      for (uint64_t b = 0; b < length; b += kZeroBlock) {
        size_t n = static_cast<size_t>(std::min<uint64_t>(kZeroBlock, length - b));
        if (!allZero(data + b, n)) {
          if (run_end != b) run = b;
          run_end = b + n;
          continue;
        }
        report.zero_bytes += n;
        if (run_end > run) {
          RETURN_IF_ERROR(resumeHint(
              writeAll(fd, data + run, static_cast<size_t>(run_end - run), at + run, true, request.file), at));
        }
        run = run_end = b + n;
      }
      if (run_end > run) {
        RETURN_IF_ERROR(resumeHint(
            writeAll(fd, data + run, static_cast<size_t>(run_end - run), at + run, true, request.file), at));
      }
    }
    report.bytes += end - at;
    at = end;
    if (progress) progress->update(at - request.offset, size - request.offset);
  }
  if (sparse && ::fsync(fd) != 0) return fileError("fsync", request.file);
  if (progress) progress->finish();
  report.seconds = secondsSince(clock, start);
  return report;
}

Result<TransferReport> importVolume(ApiTransport& api, const TransferRequest& request, TransferProgress* progress,
                                    const Clock& clock) {
  const auto start = clock.steadyNow();
  ASSIGN_OR_RETURN(uint64_t size, volumeSize(api, request.volume));
  const bool from_stdin = request.file == "-";
  int fd = from_stdin ? STDIN_FILENO : ::open(request.file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fileError("open", request.file);
  Fd file(fd, !from_stdin);
  struct stat st {};
  if (::fstat(fd, &st) != 0) return fileError("stat", request.file);
  const bool regular = S_ISREG(st.st_mode);
  // How many bytes the input has (regular files); stdin is read to its end.
  const uint64_t input = regular ? static_cast<uint64_t>(st.st_size) : 0;
  if (regular && input > size) {
    return Status(ErrorCode::kInvalidArgument, request.file + " has " + std::to_string(input) +
                                                   " bytes, more than volume '" + request.volume + "' (" +
                                                   std::to_string(size) + ")");
  }
  if (request.offset > (regular ? input : size)) {
    return Status(ErrorCode::kInvalidArgument, "--offset " + std::to_string(request.offset) + " is past the input");
  }
  if (!regular && request.offset > 0) {
    // Skip what an earlier run sent.
    std::vector<char> skip(1 << 20);
    for (uint64_t left = request.offset; left > 0;) {
      ASSIGN_OR_RETURN(size_t n, readFull(fd, skip.data(), std::min<uint64_t>(skip.size(), left), 0, false, "stdin"));
      if (n == 0) return Status(ErrorCode::kInvalidArgument, "stdin ended before --offset");
      left -= n;
    }
  }
  TransferReport report;
  report.size_bytes = size;
  report.offset = request.offset;
  const std::string path = dataPath(request.volume);
  std::string chunk;
  for (uint64_t at = request.offset;;) {
    uint64_t want = std::min<uint64_t>(kTransferChunk, (regular ? input : size) - at);
    if (want == 0) break;
    chunk.assign(static_cast<size_t>(want), '\0');
    size_t n = static_cast<size_t>(want);
    bool hole = regular && isHole(fd, at, want);
    if (!hole) {
      ASSIGN_OR_RETURN(n, readFull(fd, chunk.data(), chunk.size(), at, regular, request.file));
      if (n == 0) break;
      chunk.resize(n);
      if (!regular && at + n == size) {
        // The volume is full: anything more on the pipe is too much (a regular file's size was
        // checked above).
        char extra;
        ASSIGN_OR_RETURN(size_t more, readFull(fd, &extra, 1, 0, false, "stdin"));
        if (more != 0) {
          return Status(ErrorCode::kInvalidArgument, "stdin has more bytes than volume '" + request.volume + "' (" +
                                                         std::to_string(size) + ")");
        }
      }
    }
    if (request.target_is_zero && (hole || allZero(chunk.data(), chunk.size()))) {
      report.zero_bytes += n;
    } else {
      auto r = api.call("PUT", path, chunk,
                        {{"Content-Type", "application/octet-stream"},
                         {"Content-Range", "bytes " + std::to_string(at) + "-" + std::to_string(at + n - 1) + "/" +
                                               std::to_string(size)}});
      if (!r.isOk()) return resumeHint(r.status(), at);
      if (r->status != 200) return resumeHint(refused(*r), at);
    }
    report.bytes += n;
    at += n;
    if (progress) progress->update(at - request.offset, regular ? input - request.offset : 0);
    if (n < want) break;  // stdin ended
    if (!regular && at == size) break;
  }
  if (progress) progress->finish();
  report.seconds = secondsSince(clock, start);
  return report;
}

}  // namespace tandem::cli
