// /v1/volumes, /v1/volumes/{volume} (get, update, delete), /v1/volumes/{volume}/promote, .../resolve,
// .../adopt and .../forget.
#include "handlers.h"
#include "tandem/common/object_name.h"
#include "json_views.h"
#include "responses.h"

namespace tandem::controller::handlers {

namespace {

// GET /v1/volumes pages: `limit` volumes by default, at most kMaxVolumePage.
constexpr uint64_t kDefaultVolumePage = 500;
constexpr uint64_t kMaxVolumePage = 1000;

Status badPageQuery(const std::string& message) {
  return Status(ErrorCode::kUnprocessable, message).withReason("invalid_query");
}

}  // namespace

void listVolumes(const RouteCall& call, http::Responder respond) {
  auto limit = queryUint(call.request, "limit", kDefaultVolumePage);
  if (!limit.isOk() || *limit == 0 || *limit > kMaxVolumePage) {
    return respond(errorResponse(badPageQuery("query parameter 'limit' must be an integer from 1 to " +
                                              std::to_string(kMaxVolumePage))));
  }
  std::string after;
  if (auto it = call.request.query.find("after"); it != call.request.query.end()) {
    after = it->second;
    if (!after.empty() && !isValidObjectName(after)) {
      return respond(errorResponse(
          badPageQuery("query parameter 'after' must be a volume name (the 'next' of the previous page)")));
    }
  }
  auto page = call.cluster.listVolumesPage(after, *limit);
  if (!page.isOk()) return respond(errorResponse(page.status()));
  json::JsonWriter w;
  w.beginObject().key("volumes").beginArray();
  for (const auto& v : page->volumes) writeVolume(w, v);
  w.endArray();
  if (!page->next.empty()) w.field("next", page->next);
  w.endObject();
  respond(jsonResponse(200, w.str()));
}

void createVolume(const RouteCall& call, http::Responder respond) {
  auto dry_run = call.request.query.find("dry_run");
  const bool dry = dry_run != call.request.query.end() && dry_run->second == "true";
  if (dry_run != call.request.query.end() && !dry && dry_run->second != "false") {
    return respond(errorResponse(Status(ErrorCode::kInvalidArgument, "query parameter 'dry_run' must be true or false")
                                     .withReason("invalid_query")));
  }
  auto parsed = parseCreateVolume(call.request.body);
  if (!parsed.isOk()) return respond(errorResponse(parsed.status()));
  if (dry) return respond(objectResponse(call.cluster.planVolume(*parsed), writeVolumePlan));
  if (!parsed->source_volume.empty() && parsed->source_snapshot.empty()) {
    // A clone of the live volume: answered once the source's primary has taken its snapshot.
    return call.cluster.cloneVolume(*parsed, [respond = std::move(respond)](auto result) {
      respond(createdResponse(std::move(result), writeVolume));
    });
  }
  respond(createdResponse(call.cluster.createVolume(*parsed), writeVolume));
}

void getVolume(const RouteCall& call, http::Responder respond) {
  respond(objectResponse(call.cluster.getVolume(call.params.at("volume")), writeVolume));
}

void updateVolume(const RouteCall& call, http::Responder respond) {
  auto parsed = parseUpdateVolume(call.request.body);
  if (!parsed.isOk()) return respond(errorResponse(parsed.status()));
  respond(objectResponse(call.cluster.updateVolume(call.params.at("volume"), *parsed), writeVolume));
}

void deleteVolume(const RouteCall& call, http::Responder respond) {
  auto cascade = call.request.query.find("cascade");
  const bool all = cascade != call.request.query.end() && cascade->second == "true";
  if (cascade != call.request.query.end() && !all && cascade->second != "false") {
    return respond(errorResponse(Status(ErrorCode::kInvalidArgument, "query parameter 'cascade' must be true or false")
                                     .withReason("invalid_query")));
  }
  respond(noContentOr(call.cluster.deleteVolume(call.params.at("volume"), all)));
}

void promoteVolume(const RouteCall& call, http::Responder respond) {
  auto parsed = parsePromote(call.request.body);
  if (!parsed.isOk()) return respond(errorResponse(parsed.status()));
  respond(objectResponse(call.cluster.promoteVolume(call.params.at("volume"), parsed->node, parsed->force),
                         writeVolume));
}

void resolveSplitBrain(const RouteCall& call, http::Responder respond) {
  auto keep = parseResolve(call.request.body);
  if (!keep.isOk()) return respond(errorResponse(keep.status()));
  respond(objectResponse(call.cluster.resolveSplitBrain(call.params.at("volume"), *keep), writeVolume));
}

void adoptVolume(const RouteCall& call, http::Responder respond) {
  auto parsed = parseAdopt(call.request.body);
  if (!parsed.isOk()) return respond(errorResponse(parsed.status()));
  parsed->name = call.params.at("volume");
  respond(createdResponse(call.cluster.adoptVolume(*parsed), writeVolume));
}

void forgetVolume(const RouteCall& call, http::Responder respond) {
  if (!call.request.body.empty()) {
    if (Status s = parseEmptyObject(call.request.body); !s.isOk()) return respond(errorResponse(s));
  }
  respond(objectResponse(call.cluster.forgetVolume(call.params.at("volume")), writeForgotten));
}

}  // namespace tandem::controller::handlers
