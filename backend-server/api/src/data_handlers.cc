// GET/PUT /v1/volumes/{volume}/data: the volume's bytes, streamed through the primary's NBD
// export (the controller must reach the nodes' NBD addresses). The volume is looked up once
// (ClusterService's lock is held only for that); the copy itself runs on the exchange's thread.
#include "handlers.h"
#include "json_views.h"
#include "responses.h"
#include "tandem/common/log.h"
#include "tandem/controller/byte_range.h"
#include "tandem/controller/volume_copy.h"

namespace tandem::controller::handlers {
namespace {

constexpr std::string_view kLog = "api";

// The volume, if its bytes may be streamed now (a drbd volume through the export of its nbd
// attachment's host, else of its primary: docs/drbd.md): 404 unknown, 409 while it is being made or
// reverted (creating) or in split brain, or when no primary serves it; `writing` also refuses
// an attached volume (a guest would not see the new bytes consistently).
Result<VolumeView> usableVolume(const RouteCall& call, bool writing) {
  ASSIGN_OR_RETURN(VolumeView view, call.cluster.getVolume(call.params.at("volume")));
  const std::string& volume = view.volume.name;
  if (view.state == VolumeState::kCreating || view.state == VolumeState::kSplitBrain) {
    return Status(ErrorCode::kConflict, "volume '" + volume + "' is " + std::string(name(view.state)) +
                                            "; its data cannot be streamed now" +
                                            (view.reason.empty() ? "" : " (" + view.reason + ")"))
        .withReason("volume_not_ready");
  }
  if (view.nbd_uri.empty()) {
    return Status(ErrorCode::kConflict, "volume '" + volume + "' has no primary serving it")
        .withReason("volume_not_ready");
  }
  if (writing && !view.attached_hosts.empty()) {
    return Status(ErrorCode::kConflict, "volume '" + volume + "' is attached on " + view.attached_hosts.front() +
                                            "; detach it before writing its data")
        .withReason("volume_attached");
  }
  return view;
}

Result<std::unique_ptr<VolumePort>> openPort(const RouteCall& call, const VolumeView& view) {
  auto port = call.ports.open(view.nbd_uri);
  if (!port.isOk()) {
    return Status(ErrorCode::kUnavailable, "cannot reach the primary of volume '" + view.volume.name +
                                               "': " + port.status().message())
        .withReason("primary_unreachable");
  }
  if ((*port)->sizeBytes() < view.volume.size_bytes) {
    return Status(ErrorCode::kUnavailable, "the primary of volume '" + view.volume.name + "' serves " +
                                               std::to_string((*port)->sizeBytes()) + " bytes, not yet " +
                                               std::to_string(view.volume.size_bytes))
        .withReason("primary_unreachable");
  }
  return port;
}

// The error as a response; a range that cannot be satisfied is 416 with "bytes */size", a PUT
// without Content-Length 411.
http::Response dataError(const Status& status, uint64_t size) {
  http::Response r = errorResponse(status);
  if (status.reason() == "range_not_satisfiable") {
    r.status = 416;
    r.headers["content-range"] = "bytes */" + std::to_string(size);
  } else if (status.reason() == "length_required") {
    r.status = 411;
  }
  return r;
}

}  // namespace

void exportVolumeData(const RouteCall& call, http::StreamExchange& exchange) {
  auto view = usableVolume(call, false);
  if (!view.isOk()) return (void)exchange.respond(errorResponse(view.status()));
  const uint64_t size = view->volume.size_bytes;
  auto range = parseRangeHeader(call.request.header("range"), size);
  if (!range.isOk()) return (void)exchange.respond(dataError(range.status(), size));
  auto port = openPort(call, *view);
  if (!port.isOk()) return (void)exchange.respond(errorResponse(port.status()));

  http::Response head;
  head.status = range->partial ? 206 : 200;
  head.content_type = "application/octet-stream";
  head.headers["accept-ranges"] = "bytes";
  if (range->partial) head.headers["content-range"] = contentRange(range->range, size);
  if (!exchange.beginResponse(head, range->range.length()).isOk()) return;
  Status copied = copyOut(**port, range->range, [&](std::span<const std::byte> piece) {
    return exchange.writeBody(piece);
  });
  if (!copied.isOk()) {
    // The status line is gone: the client sees a body shorter than Content-Length.
    log::warn(kLog, "GET data of volume '" + view->volume.name + "' stopped: " + copied.toString());
    return;
  }
  (void)exchange.finish();
}

void importVolumeData(const RouteCall& call, http::StreamExchange& exchange) {
  auto view = usableVolume(call, true);
  if (!view.isOk()) return (void)exchange.respond(errorResponse(view.status()));
  const uint64_t size = view->volume.size_bytes;
  auto range = parsePutRange(call.request.header("content-range"),
                             parseContentLength(call.request.header("content-length")), size);
  if (!range.isOk()) return (void)exchange.respond(dataError(range.status(), size));
  auto port = openPort(call, *view);
  if (!port.isOk()) return (void)exchange.respond(errorResponse(port.status()));

  auto stats = copyIn([&](std::span<std::byte> out) { return exchange.readBody(out); }, **port, *range);
  if (!stats.isOk()) {
    log::warn(kLog, "PUT data of volume '" + view->volume.name + "' failed: " + stats.status().toString());
    return (void)exchange.respond(errorResponse(stats.status()));
  }
  json::JsonWriter w;
  w.beginObject();
  w.key("volume").string(view->volume.name);
  w.key("offset").uint64(range->begin);
  w.key("bytes_written").uint64(stats->bytes);
  w.key("zero_bytes").uint64(stats->zero_bytes);
  w.key("size_bytes").uint64(size);
  w.endObject();
  (void)exchange.respond(jsonResponse(200, w.str()));
}

}  // namespace tandem::controller::handlers
