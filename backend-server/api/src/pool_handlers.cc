// /v1/storage-pools.
#include "handlers.h"
#include "json_views.h"
#include "responses.h"

namespace tandem::controller::handlers {

void listStoragePools(const RouteCall& call, http::Responder respond) {
  respond(listResponse(call.cluster.listPools(), "storage_pools", writePool));
}

}  // namespace tandem::controller::handlers
