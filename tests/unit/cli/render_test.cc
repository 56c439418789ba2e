#include "tandem/cli/render.h"

#include <gtest/gtest.h>

namespace tandem::cli {
namespace {

Command commandOf(CommandKind kind, const std::string& name = "") {
  Command c;
  c.kind = kind;
  c.name = name;
  return c;
}

// An attach prints where the host finds the volume; the list is a table; detach is one line.
TEST(RenderSuccess, Attachments) {
  Command attach = commandOf(CommandKind::kVolumeAttach, "v1");
  attach.host = "h1";
  const std::string block = R"({"volume":"v1","host":"h1","mode":"block","state":"attached","reason":"",
    "connector":null,"connection_info":{"driver_volume_type":"local","data":{"device_path":"/dev/tandem/v1"}}})";
  EXPECT_EQ(*renderSuccess(attach, 201, block), "attached volume 'v1' on h1 (block, attached): /dev/tandem/v1\n");
  EXPECT_EQ(*renderSuccess(attach, 200, block),
            "volume 'v1' was already attached on h1 (block, attached): /dev/tandem/v1\n");
  const std::string list = R"({"attachments":[)" + block + R"(,
    {"volume":"v1","host":"h2","mode":"nbd","state":"attached","reason":"","connector":null,
     "connection_info":{"driver_volume_type":"nbd","data":{"uri":"nbd://10.0.0.1:10809/v1","host":"10.0.0.1",
     "port":10809,"export":"v1","socket":"/run/n.sock"}}}]})";
  EXPECT_EQ(*renderSuccess(commandOf(CommandKind::kVolumeAttachments, "v1"), 200, list),
            "HOST  MODE   STATE     PATH/URI\n"
            "h1    block  attached  /dev/tandem/v1\n"
            "h2    nbd    attached  nbd://10.0.0.1:10809/v1 (socket /run/n.sock)\n");
  EXPECT_EQ(*renderSuccess(commandOf(CommandKind::kVolumeAttachments, "v1"), 200, R"({"attachments":[]})"),
            "not attached\n");
  Command detach = commandOf(CommandKind::kVolumeDetach, "v1");
  detach.host = "h1";
  EXPECT_EQ(*renderSuccess(detach, 204, ""), "detached volume 'v1' from h1\n");
}

// The libvirt XML: a dir pool on <mount>/volumes, a volume disk of the group's pool, an NBD disk.
TEST(RenderSuccess, LibvirtXml) {
  Command pool = commandOf(CommandKind::kLibvirtPoolXml, "g1");
  pool.mount = "/srv/tandem/g1/";
  EXPECT_EQ(*renderSuccess(pool, 200, R"({"name":"g1","replicas":2})"),
            "<pool type='dir'>\n  <name>tandem-g1</name>\n  <target>\n    <path>/srv/tandem/g1/volumes</path>\n"
            "  </target>\n</pool>\n");
  const std::string volume = R"({"name":"v1","resource_group":"g1","nbd_uri":"nbd://10.0.0.2:10809/v1"})";
  Command disk = commandOf(CommandKind::kLibvirtDiskXml, "v1");
  EXPECT_EQ(*renderSuccess(disk, 200, volume),
            "<disk type='volume' device='disk'>\n  <driver name='qemu' type='raw' cache='none' io='native'/>\n"
            "  <source pool='tandem-g1' volume='v1'/>\n  <target dev='vdb' bus='virtio'/>\n</disk>\n");
  disk.nbd = true;
  EXPECT_EQ(*renderSuccess(disk, 200, volume),
            "<disk type='network' device='disk'>\n  <driver name='qemu' type='raw' cache='none' io='native'/>\n"
            "  <source protocol='nbd' name='v1'>\n    <host name='10.0.0.2' port='10809'/>\n  </source>\n"
            "  <target dev='vdb' bus='virtio'/>\n</disk>\n");
  EXPECT_FALSE(renderSuccess(disk, 200, R"({"name":"v1","resource_group":"g1","nbd_uri":""})").isOk());
}

// Nodes render as an aligned table; pool objects and pool names both list by name.
TEST(RenderSuccess, NodeListIsAnAlignedTable) {
  const std::string body = R"({"nodes":[
    {"name":"node-a","uuid":"u1","address":"10.0.0.1","state":"online",
     "last_heartbeat":"2026-11-25T10:00:00Z","nbd_port":10809,"replication_port":7000,
     "labels":{"rack":"r1","zone":"a"},"pools":["fast","slow"]},
    {"name":"n2","uuid":"u2","address":"10.0.0.22","state":"offline",
     "last_heartbeat":"2026-11-25T09:00:00Z","nbd_port":10809,"replication_port":7000,
     "pools":[{"name":"p1"}],"evacuating":true,
     "evacuation":{"replicas_left":5,"moving":2,"blocked":[{"volume":"v9","reason":"attached"}]}}]})";
  auto out = renderSuccess(commandOf(CommandKind::kNodeList), 200, body);
  ASSERT_TRUE(out.isOk()) << out.status().toString();
  EXPECT_EQ(*out,
            "NAME    STATE    ADDRESS    NBD-PORT  REPL-PORT  LAST-HEARTBEAT        LABELS          POOLS       "
            "EVACUATION\n"
            "node-a  online   10.0.0.1   10809     7000       2026-11-25T10:00:00Z  rack=r1,zone=a  fast, slow  -\n"
            "n2      offline  10.0.0.22  10809     7000       2026-11-25T09:00:00Z  -               p1          "
            "5 left (2 moving), 1 blocked\n");
}

// `node evacuate` says how far it is and why each blocked volume cannot move.
TEST(RenderSuccess, NodeEvacuateListsBlockedVolumes) {
  Command cmd = commandOf(CommandKind::kNodeEvacuate);
  cmd.name = "n2";
  auto out = renderSuccess(cmd, 202, R"({"name":"n2","evacuating":true,"evacuation":{"replicas_left":3,"moving":1,)"
                                     R"("blocked":[{"volume":"v9","reason":"attached on n2"}]}})");
  ASSERT_TRUE(out.isOk()) << out.status().toString();
  EXPECT_EQ(*out, "evacuating node 'n2': 3 left (1 moving), 1 blocked\n  v9: attached on n2\n");
  cmd.cancel = true;
  EXPECT_EQ(*renderSuccess(cmd, 200, R"({"name":"n2","evacuating":false})"),
            "node 'n2' is no longer being evacuated (moves already started finish)\n");
}

// Pool capacities print human-readable and right-aligned.
TEST(RenderSuccess, PoolListShowsHumanSizes) {
  const std::string body = R"({"storage_pools":[
    {"node":"n1","name":"fast","provider":"file","total_bytes":10995116277760,
     "free_bytes":1610612736,"provisioned_bytes":1073741824,"thin":true,"snapshots":false,
     "state":"ok"}]})";
  auto out = renderSuccess(commandOf(CommandKind::kPoolList), 200, body);
  ASSERT_TRUE(out.isOk()) << out.status().toString();
  EXPECT_EQ(*out,
            "NODE  POOL  PROVIDER     TOTAL     FREE  PROVISIONED  THIN  SNAPSHOTS  STATE\n"
            "n1    fast  file      10.0 TiB  1.5 GiB      1.0 GiB  yes   no         ok\n");
}

// Volume lists show size, group, state with reason, replica count; missing fields are "-".
TEST(RenderSuccess, VolumeListAndEmptyLists) {
  const std::string body = R"({"volumes":[
    {"name":"v1","size_bytes":1073741824,"resource_group":"gold","state":"degraded",
     "reason":"node n2 offline","primary_node":"n1","replicas":[{},{}]},
    {"name":"v2","size_bytes":512,"resource_group":"gold","state":"creating","reason":"",
     "primary_node":null}]})";
  auto out = renderSuccess(commandOf(CommandKind::kVolumeList), 200, body);
  ASSERT_TRUE(out.isOk()) << out.status().toString();
  EXPECT_EQ(*out,
            "NAME     SIZE  GROUP  STATE                       REPLICAS  PRIMARY\n"
            "v1    1.0 GiB  gold   degraded (node n2 offline)         2  n1\n"
            "v2      512 B  gold   creating                           -  -\n");
  EXPECT_EQ(*renderSuccess(commandOf(CommandKind::kVolumeList), 200, R"({"volumes":[]})"),
            "no volumes\n");
}

// volume show lists the fields, the NBD URI, and a replica table with sync percentages.
TEST(RenderSuccess, VolumeShowListsReplicasAndNbdUri) {
  const std::string body = R"({"name":"v1","uuid":"1234","size_bytes":10737418240,
    "resource_group":"gold","engine":"drbd","state":"resyncing","reason":"","primary_node":"n1","epoch":2,
    "nbd_uri":"nbd://10.0.0.1:10809/v1","created_at":"2026-11-25T10:00:00Z",
    "replicas":[{"node":"n1","pool":"fast","state":"up_to_date","sync_progress":1.0,"diskful":true},
                {"node":"n2","pool":"fast","state":"syncing","sync_progress":0.425,"diskful":true}]})";
  auto out = renderSuccess(commandOf(CommandKind::kVolumeShow, "v1"), 200, body);
  ASSERT_TRUE(out.isOk()) << out.status().toString();
  EXPECT_EQ(*out,
            "Name:    v1\n"
            "UUID:    1234\n"
            "Size:    10.0 GiB\n"
            "Group:   gold\n"
            "Engine:  drbd\n"
            "State:   resyncing\n"
            "Primary: n1 (epoch 2)\n"
            "NBD URI: nbd://10.0.0.1:10809/v1\n"
            "Created: 2026-11-25T10:00:00Z\n"
            "\n"
            "Replicas:\n"
            "  NODE  POOL  STATE        SYNC  DISKFUL\n"
            "  n1    fast  up_to_date   100%  yes\n"
            "  n2    fast  syncing     42.5%  yes\n");
}

// Creates say whether they created or found an identical object; deletes need no body.
TEST(RenderSuccess, CreateAndDeleteMessages) {
  const std::string group = R"({"name":"gold","uuid":"g1","replicas":3,"engine":"native",
    "thin":true,"overprovision":20.0,"quorum":"majority","pools":[],"replicas_on_different":["zone"]})";
  auto created = renderSuccess(commandOf(CommandKind::kGroupCreate, "gold"), 201, group);
  ASSERT_TRUE(created.isOk());
  EXPECT_EQ(*created,
            "created resource group 'gold'\n\n"
            "Name:          gold\nUUID:          g1\nReplicas:      3\nEngine:        native\n"
            "Thin:          yes\nOverprovision: 20\nQuorum:        majority\nPools:         -\n"
            "Spread by:     zone\n");
  auto same = renderSuccess(commandOf(CommandKind::kGroupCreate, "gold"), 200, group);
  EXPECT_EQ(same->rfind("resource group 'gold' already exists with the same settings\n", 0), 0u);
  EXPECT_EQ(*renderSuccess(commandOf(CommandKind::kVolumeDelete, "v1"), 204, ""),
            "deleted volume 'v1'\n");
  EXPECT_EQ(*renderSuccess(commandOf(CommandKind::kVolumeDelete, "v1"), 202, ""),
            "deleting volume 'v1' (in progress)\n");
}

// forget says where the data stays.
TEST(RenderSuccess, ForgetSaysWhereTheDataStays) {
  auto out = renderSuccess(commandOf(CommandKind::kVolumeForget, "v1"), 200,
                           R"({"volume":"v1","uuid":"u","node":"n1","pool":"p","backing_name":"old",
                               "backing_path":"/pool/old.img"})");
  ASSERT_TRUE(out.isOk()) << out.status().toString();
  EXPECT_EQ(*out, "forgot volume 'v1': its data stays on node n1, pool p, as 'old' (/pool/old.img)\n");
}

// A body that is not the promised shape is a protocol error, not a crash or empty output.
TEST(RenderSuccess, RejectsUnexpectedBodies) {
  EXPECT_EQ(renderSuccess(commandOf(CommandKind::kVolumeList), 200, "not json").status().code(),
            ErrorCode::kProtocol);
  EXPECT_EQ(renderSuccess(commandOf(CommandKind::kVolumeList), 200, R"({"nodes":[]})")
                .status()
                .code(),
            ErrorCode::kProtocol);
  EXPECT_EQ(renderSuccess(commandOf(CommandKind::kVolumeShow), 200, "[1]").status().code(),
            ErrorCode::kProtocol);
}

// The API's error shape becomes "error: <message> (<code>, HTTP <status>)"; other bodies
// still give a useful line.
TEST(RenderApiError, UsesMessageCodeAndStatus) {
  EXPECT_EQ(renderApiError(404, R"({"error":{"code":"volume_not_found",)"
                                R"("message":"volume 'v1' does not exist","details":{}}})"),
            "error: volume 'v1' does not exist (volume_not_found, HTTP 404)");
  EXPECT_EQ(renderApiError(502, "<html>\nBad gateway</html>"),
            "error: HTTP 502: <html> Bad gateway</html>");
  EXPECT_EQ(renderApiError(500, ""), "error: HTTP 500");
  EXPECT_EQ(renderApiError(400, R"({"error":{"code":5}})"), R"(error: HTTP 400: {"error":{"code":5}})");
}

}  // namespace
}  // namespace tandem::cli
