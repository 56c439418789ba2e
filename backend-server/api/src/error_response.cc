#include "error_response.h"

#include "tandem/json/writer.h"

namespace tandem::controller {

int httpStatusFor(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOk: return 200;
    case ErrorCode::kInvalidArgument: return 400;
    case ErrorCode::kUnauthenticated: return 401;
    case ErrorCode::kPermissionDenied: return 403;
    case ErrorCode::kNotFound: return 404;
    case ErrorCode::kAlreadyExists:
    case ErrorCode::kConflict: return 409;
    case ErrorCode::kTooLarge: return 413;
    case ErrorCode::kNoSpace:
    case ErrorCode::kUnprocessable: return 422;
    case ErrorCode::kUnavailable:
    case ErrorCode::kTimeout: return 503;
    case ErrorCode::kUnsupported: return 501;
    case ErrorCode::kIo:
    case ErrorCode::kProtocol:
    case ErrorCode::kInternal: return 500;
  }
  return 500;
}

http::Response errorResponse(const Status& status) {
  http::Response response;
  response.status = httpStatusFor(status.code());
  std::string code = status.reason().empty() ? std::string(errorCodeName(status.code())) : status.reason();
  json::JsonWriter w;
  w.beginObject().key("error").beginObject();
  w.field("code", code).field("message", status.message());
  w.key("details").beginObject().endObject();
  w.endObject().endObject();
  response.body = w.str();
  if (response.status == 401) response.headers["www-authenticate"] = "Bearer";
  return response;
}

}  // namespace tandem::controller
