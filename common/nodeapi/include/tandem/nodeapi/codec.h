// The one JSON codec of the node <-> controller contract (messages.h). The node encodes
// registrations and status reports and decodes desired states and registration replies; the
// controller does the opposite. Pure functions, thread-safe.
//
// encode*: total (never fail). decode*: kInvalidArgument whose message names the offending field
// ("field 'replicas[0].peers[1].state' must be one of ..."), with the reason the REST layer
// reports: malformed_json, missing_field, invalid_field or unknown_field. What the controller
// receives (registrations, status reports) refuses unknown fields, except inside replica and peer
// reports (docs/openapi.yaml leaves those open). What the node receives (desired states,
// registration replies) tolerates added fields.
#pragma once

#include <string>
#include <string_view>

#include "tandem/common/status.h"
#include "tandem/nodeapi/messages.h"

namespace tandem::nodeapi {

std::string encodeRegistration(const Registration& registration);
// Validates names (object-name rule), ports (1-65535), the address, labels (at most 32, keys and
// values following the object-name rule) and pools (free_bytes <= total_bytes).
Result<Registration> decodeRegistration(std::string_view json);

// {"node": <node_view_json>, "token", "cluster_id"}. `node_view_json` is the node's public view
// (the REST API's node object) and must hold "uuid": reply.node_uuid; the node reads only that.
std::string encodeRegistrationReply(const RegistrationReply& reply, std::string_view node_view_json);
Result<RegistrationReply> decodeRegistrationReply(std::string_view json);

std::string encodeStatusReport(const StatusReport& report);
// The `drbd` object of a status report (also the node view's): {"loaded", "version" (null when
// none), "reason"}.
std::string encodeDrbdCapability(const DrbdCapabilityReport& drbd);
// States are names from states.h. As docs/openapi.yaml promises, a state name the controller does
// not know (a newer node's) is read as not up to date: an unknown or absent "disk" is outdated,
// an unknown peer "state" disconnected.
Result<StatusReport> decodeStatusReport(std::string_view json);

std::string encodeStatusAck(const StatusAck& ack);
Result<StatusAck> decodeStatusAck(std::string_view json);

std::string encodeDesiredState(const DesiredState& state);
// Volume uuids must be UUIDs (they name files and volumes on the node); ports 0-65535.
Result<DesiredState> decodeDesiredState(std::string_view json);

}  // namespace tandem::nodeapi
