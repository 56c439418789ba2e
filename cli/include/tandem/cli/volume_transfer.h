// `tandem volume export VOL FILE` and `tandem volume import VOL FILE`: a volume's bytes to or
// from a file (or "-", stdout/stdin) through GET/PUT /v1/volumes/{v}/data, in ranged requests
// of kTransferChunk bytes (each one resumable: --offset starts at a byte; a request that fails
// names the offset to resume from). Export writes a regular file sparse (zero blocks are holes:
// the file is cut at the offset and grown to the volume's size, then only non-zero blocks are
// written); import reads holes of a regular file without reading the disk and, with
// --target-is-zero, does not send all-zero chunks (the controller writes the ones it gets as
// NBD WRITE_ZEROES, so thin volumes stay thin either way).
// Not thread-safe (the CLI is single-threaded).
#pragma once

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>

#include "tandem/cli/api_transport.h"
#include "tandem/common/clock.h"
#include "tandem/common/status.h"

namespace tandem::cli {

inline constexpr uint64_t kTransferChunk = 16ull << 20;

struct TransferRequest {
  std::string volume;
  std::string file;          // path, or "-" for stdout (export) / stdin (import)
  uint64_t offset = 0;       // first byte of the volume to transfer (resume)
  bool target_is_zero = false;  // import: the volume reads as zeroes where not written
};

struct TransferReport {
  uint64_t size_bytes = 0;   // the volume's size
  uint64_t offset = 0;
  uint64_t bytes = 0;        // bytes of the volume covered (from offset)
  uint64_t zero_bytes = 0;   // export: left as holes; import: zero chunks not sent
  double seconds = 0;
};

// Receives the progress of a transfer: bytes done out of total (total 0: unknown, stdin).
class TransferProgress {
 public:
  virtual ~TransferProgress() = default;
  virtual void update(uint64_t done, uint64_t total) = 0;
  virtual void finish() = 0;
};

// A one-line progress bar on `out` (a terminal): percentage, bytes, rate, redrawn with '\r'
// at most every 200 ms.
std::unique_ptr<TransferProgress> makeProgressBar(std::ostream& out, const Clock& clock);

// Failures: kUnavailable/kTimeout when the controller could not be reached, kIo for local file
// errors, kInvalidArgument for bad input (a file larger than the volume, an offset past its
// end), kUnprocessable with the server's answer rendered (renderApiError) when it refused.
// Each failure after the first byte names the offset to resume from (--offset).
Result<TransferReport> exportVolume(ApiTransport& api, const TransferRequest& request, TransferProgress* progress,
                                    const Clock& clock);
Result<TransferReport> importVolume(ApiTransport& api, const TransferRequest& request, TransferProgress* progress,
                                    const Clock& clock);

}  // namespace tandem::cli
