// Status and Result<T>: the one error type of Tandem.
//
// Every fallible function returns a Status (no value) or a Result<T> (a value or a Status).
// Exceptions are not used on the data path. errno values are converted in exactly one place,
// Status::fromErrno(). Both types are plain values: copyable, movable, thread-compatible.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace tandem {

// What went wrong, independent of where. The REST layer maps these to HTTP statuses in one
// place (backend-server/api/src/error_response.cc), the CLI to exit codes.
enum class ErrorCode {
  kOk = 0,
  kInvalidArgument,    // the caller asked for something malformed
  kNotFound,           // the named object does not exist
  kAlreadyExists,      // an object of that name exists (and differs)
  kConflict,           // the request contradicts current state
  kNoSpace,            // out of capacity (ENOSPC, pool full)
  kUnsupported,        // the provider/engine cannot do this
  kIo,                 // a device or file I/O error (EIO and friends)
  kUnavailable,        // a peer/node/service is not reachable now; retry may succeed
  kTimeout,            // a deadline passed
  kUnauthenticated,    // no or bad credentials
  kPermissionDenied,   // credentials valid but not allowed
  kTooLarge,           // a request or message exceeds a limit
  kUnprocessable,      // well-formed but impossible (not enough nodes, volume too large)
  kProtocol,           // a peer spoke the wire protocol wrongly
  kInternal,           // a bug or an unexpected state
};

std::string_view errorCodeName(ErrorCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok() { return Status(); }
  // Converts an errno value; `context` names the operation and object, e.g. "pwrite /var/x".
  static Status fromErrno(int err, std::string_view context);

  bool isOk() const { return code_ == ErrorCode::kOk; }
  explicit operator bool() const { return isOk(); }
  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // The errno this status was made from, if any (0 otherwise).
  int sysErrno() const { return errno_; }

  // Prefixes more context: "create volume v1: " + message.
  Status withContext(std::string_view context) const;
  // A machine-readable reason for API clients ("volume_not_found", "not_enough_nodes"); the
  // REST layer uses it as the error code when set.
  Status withReason(std::string reason) const {
    Status s = *this;
    s.reason_ = std::move(reason);
    return s;
  }
  const std::string& reason() const { return reason_; }
  std::string toString() const;

 private:
  ErrorCode code_ = ErrorCode::kOk;
  std::string message_;
  std::string reason_;
  int errno_ = 0;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}                      // NOLINT: implicit by design
  Result(Status status) : value_(std::move(status)) {                // NOLINT: implicit by design
    assert(!std::get<Status>(value_).isOk() && "Result built from an OK status");
  }

  bool isOk() const { return std::holds_alternative<T>(value_); }
  explicit operator bool() const { return isOk(); }

  const Status& status() const {
    static const Status kOk;
    return isOk() ? kOk : std::get<Status>(value_);
  }
  T& value() & { return std::get<T>(value_); }
  const T& value() const& { return std::get<T>(value_); }
  T&& value() && { return std::get<T>(std::move(value_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> value_;
};

}  // namespace tandem

#define TANDEM_CONCAT_INNER(a, b) a##b
#define TANDEM_CONCAT(a, b) TANDEM_CONCAT_INNER(a, b)

// Returns the Status from the enclosing function if `expr` (a Status) is not OK.
#define RETURN_IF_ERROR(expr)                         \
  do {                                                \
    ::tandem::Status tandem_status_ = (expr);         \
    if (!tandem_status_.isOk()) return tandem_status_; \
  } while (0)

// `ASSIGN_OR_RETURN(auto x, makeX());` declares x from a Result, or returns its Status.
#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL(TANDEM_CONCAT(tandem_result_, __LINE__), lhs, expr)
#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                          \
  if (!tmp.isOk()) return tmp.status();       \
  lhs = std::move(tmp).value()
