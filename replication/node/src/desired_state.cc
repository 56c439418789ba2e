#include "tandem/node/desired_state.h"

#include "tandem/common/uuid.h"
#include "tandem/json/object_reader.h"

namespace tandem::node {

Result<DesiredState> parseDesiredState(std::string_view text) {
  ASSIGN_OR_RETURN(auto doc, json::parseObject(text));
  json::ObjectReader r(doc);
  DesiredState s;
  ASSIGN_OR_RETURN(s.generation, r.requiredUint64("generation"));
  ASSIGN_OR_RETURN(s.cluster_id, r.requiredString("cluster_id"));
  ASSIGN_OR_RETURN(s.node, r.requiredString("node"));
  ASSIGN_OR_RETURN(auto replicas, r.optionalObjectArray("replicas"));
  for (size_t i = 0; i < replicas.size(); ++i) {
    std::string prefix = "replicas[" + std::to_string(i) + "].";
    json::ObjectReader rr(*replicas[i], prefix);
    DesiredReplica d;
    if (!rr.has("volume") || !(*replicas[i])["volume"].IsObject()) {
      return Status(ErrorCode::kInvalidArgument, "field '" + prefix + "volume' must be an object");
    }
    json::ObjectReader vr((*replicas[i])["volume"], prefix + "volume.");
    ASSIGN_OR_RETURN(d.volume_name, vr.requiredString("name"));
    ASSIGN_OR_RETURN(d.volume_uuid, vr.requiredString("uuid"));
    if (!isUuid(d.volume_uuid)) return Status(ErrorCode::kInvalidArgument, "field '" + prefix + "volume.uuid' must be a UUID");
    ASSIGN_OR_RETURN(d.size_bytes, vr.requiredUint64("size_bytes"));
    ASSIGN_OR_RETURN(d.epoch, vr.requiredUint64("epoch"));
    ASSIGN_OR_RETURN(d.pool, rr.requiredString("pool"));
    ASSIGN_OR_RETURN(auto thin, rr.optionalBool("thin"));
    d.thin = thin.value_or(true);
    ASSIGN_OR_RETURN(auto quorum, rr.optionalBool("quorum"));
    d.quorum = quorum.value_or(false);
    ASSIGN_OR_RETURN(auto primary, rr.optionalBool("primary"));
    d.primary = primary.value_or(false);
    ASSIGN_OR_RETURN(auto peers, rr.optionalObjectArray("peers"));
    for (size_t j = 0; j < peers.size(); ++j) {
      json::ObjectReader pr(*peers[j], prefix + "peers[" + std::to_string(j) + "].");
      DesiredPeer p;
      ASSIGN_OR_RETURN(p.node, pr.requiredString("node"));
      ASSIGN_OR_RETURN(p.host, pr.requiredString("host"));
      ASSIGN_OR_RETURN(uint64_t port, pr.requiredUint64("port"));
      if (port > 65535) return Status(ErrorCode::kInvalidArgument, "peer port out of range");
      p.port = static_cast<uint16_t>(port);
      d.peers.push_back(std::move(p));
    }
    s.replicas.push_back(std::move(d));
  }
  return s;
}

}  // namespace tandem::node
