// `tandem volume list`: GET /v1/volumes is paginated (`limit`, `after`, the answer's `next`);
// the CLI follows the pages and shows every volume as one list.
#pragma once

#include "tandem/cli/api_transport.h"
#include "tandem/common/status.h"

namespace tandem::cli {

// Every page of GET /v1/volumes, in order, as one answer {"volumes": [...]} (status 200). The
// first non-2xx answer is returned as it is; kUnavailable/kTimeout when no answer arrived;
// kProtocol for a page that is not {"volumes": [...]} or a cursor that does not move on.
Result<http::Response> listAllVolumes(ApiTransport& api);

}  // namespace tandem::cli
