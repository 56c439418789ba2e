// The API's handlers, one file per resource: meta_handlers.cc (version, health, metrics),
// node_handlers.cc, pool_handlers.cc, group_handlers.cc, volume_handlers.cc, snapshot_handlers.cc,
// attachment_handlers.cc, data_handlers.cc (the volume's bytes, streamed) and
// internal_handlers.cc (a node's desired state and status). Each is a RouteHandler named after
// its operationId in docs/openapi.yaml: request in, response out, over the ClusterService. The
// route table (api_routes.cc) has already authenticated the caller and checked its scope.
#pragma once

#include "tandem/controller/api_routes.h"

namespace tandem::controller::handlers {

void getVersion(const RouteCall& call, http::Responder respond);
void getHealth(const RouteCall& call, http::Responder respond);
void getMetrics(const RouteCall& call, http::Responder respond);

void listNodes(const RouteCall& call, http::Responder respond);
void registerNode(const RouteCall& call, http::Responder respond);
void getNode(const RouteCall& call, http::Responder respond);
void deleteNode(const RouteCall& call, http::Responder respond);
void evacuateNode(const RouteCall& call, http::Responder respond);      // 202 with the node
void cancelEvacuation(const RouteCall& call, http::Responder respond);  // 200 with the node

void listStoragePools(const RouteCall& call, http::Responder respond);

void listResourceGroups(const RouteCall& call, http::Responder respond);
void createResourceGroup(const RouteCall& call, http::Responder respond);
void getResourceGroup(const RouteCall& call, http::Responder respond);
void deleteResourceGroup(const RouteCall& call, http::Responder respond);

void listVolumes(const RouteCall& call, http::Responder respond);
void createVolume(const RouteCall& call, http::Responder respond);
void getVolume(const RouteCall& call, http::Responder respond);
void updateVolume(const RouteCall& call, http::Responder respond);
void deleteVolume(const RouteCall& call, http::Responder respond);
void promoteVolume(const RouteCall& call, http::Responder respond);
void resolveSplitBrain(const RouteCall& call, http::Responder respond);
void adoptVolume(const RouteCall& call, http::Responder respond);
void forgetVolume(const RouteCall& call, http::Responder respond);

void listSnapshots(const RouteCall& call, http::Responder respond);
void createSnapshot(const RouteCall& call, http::Responder respond);
void getSnapshot(const RouteCall& call, http::Responder respond);
void deleteSnapshot(const RouteCall& call, http::Responder respond);
void revertSnapshot(const RouteCall& call, http::Responder respond);

void listAttachments(const RouteCall& call, http::Responder respond);
void attachVolume(const RouteCall& call, http::Responder respond);
void detachVolume(const RouteCall& call, http::Responder respond);

// data_handlers.cc: streamed.
void exportVolumeData(const RouteCall& call, http::StreamExchange& exchange);
void importVolumeData(const RouteCall& call, http::StreamExchange& exchange);

void pollDesiredState(const RouteCall& call, http::Responder respond);
void reportNodeStatus(const RouteCall& call, http::Responder respond);

}  // namespace tandem::controller::handlers
