// The one place where a Status becomes an HTTP error:
// {"error": {"code", "message", "details"}} with the status that fits the error code.
#pragma once

#include "tandem/common/status.h"
#include "tandem/http/message.h"

namespace tandem::controller {

int httpStatusFor(ErrorCode code);
http::Response errorResponse(const Status& status);

}  // namespace tandem::controller
