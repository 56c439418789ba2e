// JSON rendering of the cluster's views and parsing of request bodies (see docs/openapi.yaml).
#pragma once

#include <string>
#include <string_view>

#include "tandem/common/status.h"
#include "tandem/controller/cluster_service.h"
#include "tandem/json/writer.h"

namespace tandem::controller {

void writeNode(json::JsonWriter& w, const NodeView& node);
void writePool(json::JsonWriter& w, const PoolView& pool);
void writeGroup(json::JsonWriter& w, const GroupRecord& group);
void writeVolume(json::JsonWriter& w, const VolumeView& volume);
void writeVolumePlan(json::JsonWriter& w, const VolumePlan& plan);
void writeSnapshot(json::JsonWriter& w, const SnapshotView& snapshot);
void writeAttachment(json::JsonWriter& w, const AttachmentView& attachment);
void writeForgotten(json::JsonWriter& w, const ForgetResult& forgotten);
std::string desiredStateJson(const DesiredState& state);
std::string statusAckJson(const nodeapi::StatusAck& ack);
std::string registerResultJson(const RegisterNodeResult& result, const NodeView& node);

Result<RegisterNodeRequest> parseRegisterRequest(std::string_view body);
Result<NodeStatusReport> parseStatusReport(std::string_view body);
Result<GroupRecord> parseGroupSpec(std::string_view body);
Result<CreateVolumeRequest> parseCreateVolume(std::string_view body);
Result<UpdateVolumeRequest> parseUpdateVolume(std::string_view body);
// {node, pool, backing_name, resource_group, dry_run?}; the volume's name comes from the path.
Result<AdoptRequest> parseAdopt(std::string_view body);
// The name of a snapshot to create ({"name"}).
Result<std::string> parseCreateSnapshot(std::string_view body);
// A body that must be an empty object ({}).
Status parseEmptyObject(std::string_view body);

struct PromoteRequest {
  std::string node;
  bool force = false;
};
Result<PromoteRequest> parsePromote(std::string_view body);
// {host, mode: "nbd"|"block" (default block), connector?: object (kept as given)}.
Result<AttachRequest> parseAttach(std::string_view body);
// {"keep": NODE}: the node whose copy a split-brain resolution keeps.
Result<std::string> parseResolve(std::string_view body);

}  // namespace tandem::controller
