#include "tandem/common/status.h"

#include <cerrno>
#include <cstring>

namespace tandem {

std::string_view errorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOk: return "ok";
    case ErrorCode::kInvalidArgument: return "invalid_argument";
    case ErrorCode::kNotFound: return "not_found";
    case ErrorCode::kAlreadyExists: return "already_exists";
    case ErrorCode::kConflict: return "conflict";
    case ErrorCode::kNoSpace: return "no_space";
    case ErrorCode::kUnsupported: return "unsupported";
    case ErrorCode::kIo: return "io_error";
    case ErrorCode::kUnavailable: return "unavailable";
    case ErrorCode::kTimeout: return "timeout";
    case ErrorCode::kUnauthenticated: return "unauthenticated";
    case ErrorCode::kPermissionDenied: return "permission_denied";
    case ErrorCode::kTooLarge: return "too_large";
    case ErrorCode::kUnprocessable: return "unprocessable";
    case ErrorCode::kProtocol: return "protocol_error";
    case ErrorCode::kInternal: return "internal";
  }
  return "unknown";
}

Status Status::fromErrno(int err, std::string_view context) {
  ErrorCode code = ErrorCode::kIo;
  switch (err) {
    case ENOENT: code = ErrorCode::kNotFound; break;
    case EEXIST: code = ErrorCode::kAlreadyExists; break;
    case ENOSPC:
    case EDQUOT: code = ErrorCode::kNoSpace; break;
    case EINVAL:
    case ENAMETOOLONG: code = ErrorCode::kInvalidArgument; break;
    case EACCES:
    case EPERM: code = ErrorCode::kPermissionDenied; break;
    case EOPNOTSUPP:
    case ENOSYS:
    case ENOTTY:
    case EXDEV: code = ErrorCode::kUnsupported; break;
    case ECONNREFUSED:
    case ECONNRESET:
    case EPIPE:
    case EHOSTUNREACH:
    case ENETUNREACH:
    case ENOTCONN: code = ErrorCode::kUnavailable; break;
    case ETIMEDOUT:
    case EAGAIN: code = ErrorCode::kTimeout; break;
    case EBUSY: code = ErrorCode::kConflict; break;
    case EFBIG: code = ErrorCode::kTooLarge; break;
    default: code = ErrorCode::kIo; break;
  }
  Status s(code, std::string(context) + ": " + std::strerror(err));
  s.errno_ = err;
  return s;
}

Status Status::withContext(std::string_view context) const {
  if (isOk()) return *this;
  Status s(code_, std::string(context) + ": " + message_);
  s.errno_ = errno_;
  s.reason_ = reason_;
  return s;
}

std::string Status::toString() const {
  if (isOk()) return "ok";
  return std::string(errorCodeName(code_)) + ": " + message_;
}

}  // namespace tandem
