#include "tandem/cli/args.h"

#include <gtest/gtest.h>

#include "tandem/cli/command.h"

namespace tandem::cli {
namespace {

Result<Command> commandOf(const std::vector<std::string>& args) {
  auto parsed = parseArgs(args);
  if (!parsed.isOk()) return parsed.status();
  return parseCommand(*parsed);
}

// Global flags may come before or after the command, as "--f v" or "--f=v".
TEST(ParseArgs, GlobalFlagsAnywhereInBothForms) {
  auto p = parseArgs({"--url", "https://a:1", "volume", "list", "--token=t0k", "--json",
                      "--ca-file", "/ca.pem", "--insecure", "--config=/c.conf"});
  ASSERT_TRUE(p.isOk()) << p.status().toString();
  EXPECT_EQ(*p->url, "https://a:1");
  EXPECT_EQ(*p->token, "t0k");
  EXPECT_EQ(*p->ca_file, "/ca.pem");
  EXPECT_EQ(*p->config, "/c.conf");
  EXPECT_TRUE(p->json);
  EXPECT_TRUE(p->insecure);
  EXPECT_EQ(p->words, (std::vector<std::string>{"volume", "list"}));
  EXPECT_FALSE(p->help);
  EXPECT_TRUE(parseArgs({"-h"})->help);
  EXPECT_TRUE(parseArgs({"volume", "--help"})->help);
}

// Unknown flags, missing values and values on boolean flags are usage errors.
TEST(ParseArgs, RejectsUnknownAndIncompleteFlags) {
  EXPECT_FALSE(parseArgs({"--frobnicate"}).isOk());
  EXPECT_FALSE(parseArgs({"-x"}).isOk());
  EXPECT_FALSE(parseArgs({"volume", "list", "--url"}).isOk());
  EXPECT_FALSE(parseArgs({"--json=yes"}).isOk());
  // After "--" everything is a word, even a leading dash.
  auto p = parseArgs({"volume", "show", "--", "--odd"});
  ASSERT_TRUE(p.isOk());
  EXPECT_EQ(p->words.back(), "--odd");
}

// group create takes NAME --replicas N and optional --engine/--thin/--thick.
TEST(ParseCommand, GroupCreateWithOptions) {
  auto c = commandOf({"group", "create", "gold", "--replicas", "3", "--thick"});
  ASSERT_TRUE(c.isOk()) << c.status().toString();
  EXPECT_EQ(c->kind, CommandKind::kGroupCreate);
  EXPECT_EQ(c->name, "gold");
  EXPECT_EQ(c->replicas, 3);
  EXPECT_EQ(c->engine, "native");
  EXPECT_FALSE(c->thin);
  ApiCall call = apiCallFor(*c);
  EXPECT_EQ(call.method, "POST");
  EXPECT_EQ(call.target, "/v1/resource-groups");
  EXPECT_EQ(call.body, R"({"name":"gold","replicas":3,"engine":"native","thin":false})");

  auto thin = commandOf({"group", "create", "g", "--replicas=2", "--engine", "native"});
  ASSERT_TRUE(thin.isOk());
  EXPECT_TRUE(thin->thin);

  auto drbd = commandOf({"group", "create", "d", "--replicas", "2", "--engine", "drbd"});
  ASSERT_TRUE(drbd.isOk()) << drbd.status().toString();
  EXPECT_EQ(apiCallFor(*drbd).body, R"({"name":"d","replicas":2,"engine":"drbd","thin":true})");
  EXPECT_FALSE(commandOf({"group", "create", "d", "--replicas", "2", "--engine", "raid"}).isOk());

  auto placed = commandOf({"group", "create", "z", "--replicas", "3", "--pools", "fast,slow", "--spread-by=zone,rack",
                           "--overprovision", "2.5", "--quorum", "majority"});
  ASSERT_TRUE(placed.isOk()) << placed.status().toString();
  EXPECT_EQ(apiCallFor(*placed).body,
            R"({"name":"z","replicas":3,"engine":"native","thin":true,"pools":["fast","slow"],)"
            R"("replicas_on_different":["zone","rack"],"overprovision":2.5,"quorum":"majority"})");
}

// node delete NAME maps to DELETE /v1/nodes/NAME; the name is checked.
TEST(ParseCommand, NodeDelete) {
  auto c = commandOf({"node", "delete", "old-host"});
  ASSERT_TRUE(c.isOk()) << c.status().toString();
  ApiCall call = apiCallFor(*c);
  EXPECT_EQ(call.method, "DELETE");
  EXPECT_EQ(call.target, "/v1/nodes/old-host");
  EXPECT_FALSE(commandOf({"node", "delete"}).isOk());
  EXPECT_FALSE(commandOf({"node", "delete", "bad name"}).isOk());
  EXPECT_FALSE(commandOf({"node", "remove", "x"}).isOk());
}

// node evacuate NAME posts to the evacuate route; --cancel deletes it.
TEST(ParseCommand, NodeEvacuate) {
  auto c = commandOf({"node", "evacuate", "host3"});
  ASSERT_TRUE(c.isOk()) << c.status().toString();
  EXPECT_EQ(apiCallFor(*c).method, "POST");
  EXPECT_EQ(apiCallFor(*c).target, "/v1/nodes/host3/evacuate");
  auto cancel = commandOf({"node", "evacuate", "host3", "--cancel"});
  ASSERT_TRUE(cancel.isOk()) << cancel.status().toString();
  EXPECT_EQ(apiCallFor(*cancel).method, "DELETE");
  EXPECT_FALSE(commandOf({"node", "evacuate"}).isOk());
  EXPECT_FALSE(commandOf({"node", "evacuate", "host3", "--force"}).isOk());
}

// volume resolve NAME --keep N posts to the resolve route; --keep is required and must be a name.
TEST(Command, VolumeResolvePostsTheCopyToKeep) {
  auto c = commandOf({"volume", "resolve", "v1", "--keep", "n2"});
  ASSERT_TRUE(c.isOk()) << c.status().message();
  ApiCall call = apiCallFor(*c);
  EXPECT_EQ(call.method, "POST");
  EXPECT_EQ(call.target, "/v1/volumes/v1/resolve");
  EXPECT_EQ(call.body, R"({"keep":"n2"})");
  EXPECT_FALSE(commandOf({"volume", "resolve", "v1"}).isOk());
  EXPECT_FALSE(commandOf({"volume", "resolve", "v1", "--keep", "bad name"}).isOk());
  EXPECT_FALSE(commandOf({"volume", "resolve", "v1", "--keep", "n2", "--force"}).isOk());
}

// volume promote NAME --node N [--force] posts to the promote route.
TEST(ParseCommand, VolumePromote) {
  auto c = commandOf({"volume", "promote", "v1", "--node", "n2", "--force"});
  ASSERT_TRUE(c.isOk()) << c.status().toString();
  ApiCall call = apiCallFor(*c);
  EXPECT_EQ(call.method, "POST");
  EXPECT_EQ(call.target, "/v1/volumes/v1/promote");
  EXPECT_EQ(call.body, R"({"node":"n2","force":true})");
  EXPECT_EQ(apiCallFor(*commandOf({"volume", "promote", "v1", "--node=n2"})).body, R"({"node":"n2","force":false})");
  EXPECT_FALSE(commandOf({"volume", "promote", "v1"}).isOk());
  EXPECT_FALSE(commandOf({"volume", "promote", "v1", "--node", "bad name"}).isOk());
  EXPECT_FALSE(commandOf({"volume", "create", "v1", "--size", "1G", "--group", "g", "--force"}).isOk());
}

// volume attach|detach|attachments map onto the attachment routes; host and mode are checked.
TEST(ParseCommand, VolumeAttachDetachAndList) {
  auto attach = commandOf({"volume", "attach", "v1", "--host", "h1"});
  ASSERT_TRUE(attach.isOk()) << attach.status().toString();
  ApiCall call = apiCallFor(*attach);
  EXPECT_EQ(call.method, "POST");
  EXPECT_EQ(call.target, "/v1/volumes/v1/attachments");
  EXPECT_EQ(call.body, R"({"host":"h1","mode":"block"})");
  EXPECT_EQ(apiCallFor(*commandOf({"volume", "attach", "v1", "--host=h1", "--mode", "nbd"})).body,
            R"({"host":"h1","mode":"nbd"})");
  EXPECT_FALSE(commandOf({"volume", "attach", "v1"}).isOk()) << "needs --host";
  EXPECT_FALSE(commandOf({"volume", "attach", "v1", "--host", "h1", "--mode", "iscsi"}).isOk());
  EXPECT_FALSE(commandOf({"volume", "attach", "v1", "--host", "bad host"}).isOk());
  EXPECT_FALSE(commandOf({"volume", "attach", "v1", "--host", "h1", "--force"}).isOk());

  ApiCall detach = apiCallFor(*commandOf({"volume", "detach", "v1", "--host", "h1"}));
  EXPECT_EQ(detach.method, "DELETE");
  EXPECT_EQ(detach.target, "/v1/volumes/v1/attachments/h1");
  EXPECT_EQ(detach.body, "");
  EXPECT_EQ(apiCallFor(*commandOf({"volume", "detach", "v1", "--host", "h1", "--force"})).target,
            "/v1/volumes/v1/attachments/h1?force=true");
  EXPECT_FALSE(commandOf({"volume", "detach", "v1", "--host", "h1", "--mode", "nbd"}).isOk());

  ApiCall list = apiCallFor(*commandOf({"volume", "attachments", "v1"}));
  EXPECT_EQ(list.method, "GET");
  EXPECT_EQ(list.target, "/v1/volumes/v1/attachments");
  EXPECT_FALSE(commandOf({"volume", "attachments"}).isOk());
  EXPECT_EQ(apiCallFor(*commandOf({"group", "create", "g", "--replicas", "2", "--multiattach"})).body,
            R"({"name":"g","replicas":2,"engine":"native","thin":true,"allow_multiattach":true})");
}

// snapshot create|delete VOLUME SNAPSHOT and snapshot list VOLUME use the volume's snapshot routes.
TEST(ParseCommand, Snapshots) {
  auto create = commandOf({"snapshot", "create", "v1", "s1"});
  ASSERT_TRUE(create.isOk()) << create.status().toString();
  ApiCall call = apiCallFor(*create);
  EXPECT_EQ(call.method, "POST");
  EXPECT_EQ(call.target, "/v1/volumes/v1/snapshots");
  EXPECT_EQ(call.body, R"({"name":"s1"})");
  call = apiCallFor(*commandOf({"snapshot", "delete", "v1", "s1"}));
  EXPECT_EQ(call.method, "DELETE");
  EXPECT_EQ(call.target, "/v1/volumes/v1/snapshots/s1");
  call = apiCallFor(*commandOf({"snapshot", "list", "v1"}));
  EXPECT_EQ(call.method, "GET");
  EXPECT_EQ(call.target, "/v1/volumes/v1/snapshots");
  call = apiCallFor(*commandOf({"snapshot", "revert", "v1", "s1"}));
  EXPECT_EQ(call.method, "POST");
  EXPECT_EQ(call.target, "/v1/volumes/v1/snapshots/s1/revert");
  EXPECT_EQ(call.body, "{}");
  EXPECT_FALSE(commandOf({"snapshot", "create", "v1"}).isOk());
  EXPECT_FALSE(commandOf({"snapshot", "create", "v1", "bad name"}).isOk());
  EXPECT_FALSE(commandOf({"snapshot", "list"}).isOk());
  EXPECT_FALSE(commandOf({"snapshot", "explode", "v1", "s1"}).isOk());
}

// libvirt pool-xml reads the group, disk-xml the volume; --mount must be absolute.
TEST(ParseCommand, LibvirtXml) {
  auto pool = commandOf({"libvirt", "pool-xml", "g1", "--mount", "/srv/tandem/g1"});
  ASSERT_TRUE(pool.isOk()) << pool.status().toString();
  EXPECT_EQ(pool->kind, CommandKind::kLibvirtPoolXml);
  EXPECT_EQ(pool->mount, "/srv/tandem/g1");
  EXPECT_EQ(apiCallFor(*pool).target, "/v1/resource-groups/g1");
  EXPECT_FALSE(commandOf({"libvirt", "pool-xml", "g1"}).isOk());
  EXPECT_FALSE(commandOf({"libvirt", "pool-xml", "g1", "--mount", "relative"}).isOk());
  auto disk = commandOf({"libvirt", "disk-xml", "v1", "--nbd", "--target", "vdc"});
  ASSERT_TRUE(disk.isOk()) << disk.status().toString();
  EXPECT_EQ(disk->kind, CommandKind::kLibvirtDiskXml);
  EXPECT_TRUE(disk->nbd);
  EXPECT_EQ(disk->target, "vdc");
  EXPECT_EQ(apiCallFor(*disk).method, "GET");
  EXPECT_EQ(apiCallFor(*disk).target, "/v1/volumes/v1");
  EXPECT_FALSE(commandOf({"libvirt", "disk-xml", "v1", "--nbd", "--pool", "p"}).isOk());
  EXPECT_FALSE(commandOf({"libvirt", "disk-xml"}).isOk());
}

// volume clone NAME --from V [--snapshot S] --size SIZE --group G creates a volume with a source.
TEST(ParseCommand, VolumeClone) {
  auto c = commandOf({"volume", "clone", "v2", "--from", "v1", "--snapshot", "s1", "--size", "1GiB", "--group", "g"});
  ASSERT_TRUE(c.isOk()) << c.status().toString();
  ApiCall call = apiCallFor(*c);
  EXPECT_EQ(call.method, "POST");
  EXPECT_EQ(call.target, "/v1/volumes");
  EXPECT_EQ(call.body,
            R"({"name":"v2","size_bytes":1073741824,"resource_group":"g","source":{"volume":"v1","snapshot":"s1"}})");
  auto live = commandOf({"volume", "clone", "v2", "--from", "v1", "--size", "1GiB", "--group", "g"});
  ASSERT_TRUE(live.isOk()) << "without --snapshot: a clone of the live volume";
  EXPECT_EQ(apiCallFor(*live).body,
            R"({"name":"v2","size_bytes":1073741824,"resource_group":"g","source":{"volume":"v1"}})");
  EXPECT_FALSE(commandOf({"volume", "clone", "v2", "--size", "1GiB", "--group", "g"}).isOk());
  EXPECT_FALSE(commandOf({"volume", "clone", "v2", "--from", "bad name", "--snapshot", "s1", "--size", "1G",
                          "--group", "g"}).isOk());
}

// volume grow NAME --size SIZE patches the volume's size.
TEST(ParseCommand, VolumeGrow) {
  auto c = commandOf({"volume", "grow", "v1", "--size", "2GiB"});
  ASSERT_TRUE(c.isOk()) << c.status().toString();
  ApiCall call = apiCallFor(*c);
  EXPECT_EQ(call.method, "PATCH");
  EXPECT_EQ(call.target, "/v1/volumes/v1");
  EXPECT_EQ(call.body, R"({"size_bytes":2147483648})");
  EXPECT_FALSE(commandOf({"volume", "grow", "v1"}).isOk());
  EXPECT_FALSE(commandOf({"volume", "grow", "v1", "--size", "lots"}).isOk());
  EXPECT_FALSE(commandOf({"volume", "grow", "v1", "--size", "1G", "--group", "g"}).isOk());
}

// volume adopt posts node, pool, backing name and group (and dry_run when asked); forget posts {}.
TEST(ParseCommand, VolumeAdoptAndForget) {
  auto c = commandOf({"volume", "adopt", "v1", "--node", "n1", "--pool", "p", "--backing", "old-disk", "--group", "g"});
  ASSERT_TRUE(c.isOk()) << c.status().toString();
  ApiCall call = apiCallFor(*c);
  EXPECT_EQ(call.method, "POST");
  EXPECT_EQ(call.target, "/v1/volumes/v1/adopt");
  EXPECT_EQ(call.body, R"({"node":"n1","pool":"p","backing_name":"old-disk","resource_group":"g"})");
  auto dry = commandOf(
      {"volume", "adopt", "v1", "--node", "n1", "--pool", "p", "--backing", "old-disk", "--group", "g", "--dry-run"});
  ASSERT_TRUE(dry.isOk());
  EXPECT_EQ(apiCallFor(*dry).body,
            R"({"node":"n1","pool":"p","backing_name":"old-disk","resource_group":"g","dry_run":true})");
  EXPECT_FALSE(commandOf({"volume", "adopt", "v1", "--node", "n1", "--pool", "p", "--group", "g"}).isOk());
  EXPECT_FALSE(commandOf({"volume", "adopt", "v1", "--node", "n1", "--backing", "b", "--group", "g"}).isOk());
  auto forget = commandOf({"volume", "forget", "v1"});
  ASSERT_TRUE(forget.isOk());
  EXPECT_EQ(apiCallFor(*forget).method, "POST");
  EXPECT_EQ(apiCallFor(*forget).target, "/v1/volumes/v1/forget");
  EXPECT_EQ(apiCallFor(*forget).body, "{}");
  EXPECT_FALSE(commandOf({"volume", "forget", "v1", "--force"}).isOk());
}

// volume update sends only what is given, in one PATCH; nothing given is a usage error.
TEST(ParseCommand, VolumeUpdate) {
  auto c = commandOf({"volume", "update", "v1", "--replicas", "3", "--group", "gold", "--size", "2GiB"});
  ASSERT_TRUE(c.isOk()) << c.status().toString();
  ApiCall call = apiCallFor(*c);
  EXPECT_EQ(call.method, "PATCH");
  EXPECT_EQ(call.target, "/v1/volumes/v1");
  EXPECT_EQ(call.body, R"({"size_bytes":2147483648,"replicas":3,"resource_group":"gold"})");
  EXPECT_EQ(apiCallFor(*commandOf({"volume", "update", "v1", "--replicas", "2"})).body, R"({"replicas":2})");
  EXPECT_FALSE(commandOf({"volume", "update", "v1"}).isOk());
  EXPECT_FALSE(commandOf({"volume", "update", "v1", "--replicas", "0"}).isOk());
  EXPECT_FALSE(commandOf({"volume", "update", "v1", "--node", "n1"}).isOk());
}

// volume export|import NAME FILE take --offset (bytes), --progress, and for import
// --target-is-zero; FILE may be "-".
TEST(ParseCommand, VolumeExportImport) {
  auto e = commandOf({"volume", "export", "v1", "-", "--offset", "4096", "--progress"});
  ASSERT_TRUE(e.isOk()) << e.status().toString();
  EXPECT_EQ(e->kind, CommandKind::kVolumeExport);
  EXPECT_EQ(e->file, "-");
  EXPECT_EQ(e->name, "v1");
  EXPECT_EQ(e->offset, 4096u);
  EXPECT_TRUE(e->progress);
  auto i = commandOf({"volume", "import", "v1", "/tmp/x.img", "--target-is-zero"});
  ASSERT_TRUE(i.isOk()) << i.status().toString();
  EXPECT_EQ(i->kind, CommandKind::kVolumeImport);
  EXPECT_EQ(i->file, "/tmp/x.img");
  EXPECT_TRUE(i->target_is_zero);
  EXPECT_FALSE(i->progress);
  EXPECT_EQ(apiCallFor(*i).target, "/v1/volumes/v1");
  EXPECT_FALSE(commandOf({"volume", "export", "v1"}).isOk());
  EXPECT_FALSE(commandOf({"volume", "export", "v1", "f", "--offset", "-1"}).isOk());
  EXPECT_FALSE(commandOf({"volume", "export", "v1", "f", "--offset", "1GiB"}).isOk());
  EXPECT_FALSE(commandOf({"volume", "export", "v1", "f", "--target-is-zero"}).isOk());
  EXPECT_FALSE(commandOf({"volume", "import", "bad name", "f"}).isOk());
}

// Pool and label lists and the over-provisioning ratio are checked before anything is sent.
TEST(ParseCommand, RejectsBadPlacementOptions) {
  EXPECT_FALSE(commandOf({"group", "create", "g", "--replicas", "2", "--pools", "a,,b"}).isOk());
  EXPECT_FALSE(commandOf({"group", "create", "g", "--replicas", "2", "--spread-by", "zone,"}).isOk());
  EXPECT_FALSE(commandOf({"group", "create", "g", "--replicas", "2", "--spread-by", "zo ne"}).isOk());
  for (const char* bad : {"0.5", "x", "2x", "1001", ""}) {
    EXPECT_FALSE(commandOf({"group", "create", "g", "--replicas", "2", "--overprovision", bad}).isOk()) << bad;
  }
  EXPECT_FALSE(commandOf({"group", "create", "g", "--replicas", "2", "--quorum", "all"}).isOk());
  auto thick = commandOf({"group", "create", "g", "--replicas", "2", "--thick", "--overprovision", "2"});
  ASSERT_FALSE(thick.isOk());
  EXPECT_NE(thick.status().message().find("only to thin"), std::string::npos);
}

// --replicas is validated with full-string integer parsing (no atoi leniency).
TEST(ParseCommand, RejectsBadReplicaCounts) {
  for (const char* bad : {"0", "-1", "3x", "", "9", "33", "1e1", " 3", "99999999999999999999"}) {
    EXPECT_FALSE(commandOf({"group", "create", "g", "--replicas", bad}).isOk()) << bad;
  }
  EXPECT_FALSE(commandOf({"group", "create", "g"}).isOk());  // --replicas missing
  EXPECT_FALSE(commandOf({"group", "create", "g", "--replicas", "2", "--thin", "--thick"}).isOk());
  EXPECT_FALSE(commandOf({"group", "create", "g", "--replicas", "2", "--engine", "ceph"}).isOk());
}

// volume create parses the size and needs a group; the body carries size_bytes.
TEST(ParseCommand, VolumeCreateBuildsBody) {
  auto c = commandOf({"volume", "create", "v1", "--size", "1GiB", "--group", "gold"});
  ASSERT_TRUE(c.isOk()) << c.status().toString();
  ApiCall call = apiCallFor(*c);
  EXPECT_EQ(call.method, "POST");
  EXPECT_EQ(call.target, "/v1/volumes");
  EXPECT_EQ(call.body, R"({"name":"v1","size_bytes":1073741824,"resource_group":"gold"})");
  EXPECT_FALSE(commandOf({"volume", "create", "v1", "--group", "g"}).isOk());
  EXPECT_FALSE(commandOf({"volume", "create", "v1", "--size", "1G"}).isOk());
  EXPECT_FALSE(commandOf({"volume", "create", "v1", "--size", "lots", "--group", "g"}).isOk());
}

// --dry-run asks the same route with ?dry_run=true (the body is the same).
TEST(ParseCommand, VolumeCreateDryRun) {
  auto c = commandOf({"volume", "create", "v1", "--size", "1GiB", "--group", "gold", "--dry-run"});
  ASSERT_TRUE(c.isOk()) << c.status().toString();
  ApiCall call = apiCallFor(*c);
  EXPECT_EQ(call.method, "POST");
  EXPECT_EQ(call.target, "/v1/volumes?dry_run=true");
  EXPECT_EQ(call.body, R"({"name":"v1","size_bytes":1073741824,"resource_group":"gold"})");
}

// --weights KEY=W,... becomes placement_weights; unknown keys and bad numbers are usage errors.
TEST(ParseCommand, GroupCreateWeights) {
  auto c = commandOf({"group", "create", "g", "--replicas", "2", "--weights", "replica_count=2,free_space=0.5"});
  ASSERT_TRUE(c.isOk()) << c.status().toString();
  EXPECT_EQ(apiCallFor(*c).body, R"({"name":"g","replicas":2,"engine":"native","thin":true,)"
                                 R"("placement_weights":{"free_space":0.5,"replica_count":2.0}})");
  for (const char* bad : {"speed=1", "free_space", "free_space=-1", "provisioned=1001", "free_space=x", ""}) {
    EXPECT_FALSE(commandOf({"group", "create", "g", "--replicas", "2", "--weights", bad}).isOk()) << bad;
  }
}

// Each command maps to its REST route; names go into the path.
TEST(ParseCommand, MapsCommandsToRoutes) {
  struct Case {
    std::vector<std::string> args;
    std::string method, target;
  };
  for (const Case& c : std::vector<Case>{
           {{"node", "list"}, "GET", "/v1/nodes"},
           {{"pool", "list"}, "GET", "/v1/storage-pools"},
           {{"group", "list"}, "GET", "/v1/resource-groups"},
           {{"group", "show", "g.1"}, "GET", "/v1/resource-groups/g.1"},
           {{"group", "delete", "g_1"}, "DELETE", "/v1/resource-groups/g_1"},
           {{"volume", "list"}, "GET", "/v1/volumes"},
           {{"volume", "show", "v-1"}, "GET", "/v1/volumes/v-1"},
           {{"volume", "delete", "v1"}, "DELETE", "/v1/volumes/v1"},
           {{"version"}, "GET", "/v1/version"},
       }) {
    auto cmd = commandOf(c.args);
    ASSERT_TRUE(cmd.isOk()) << c.args[0] << ": " << cmd.status().toString();
    ApiCall call = apiCallFor(*cmd);
    EXPECT_EQ(call.method, c.method);
    EXPECT_EQ(call.target, c.target);
    EXPECT_EQ(call.body, "");
  }
}

// Wrong arity, unknown commands, misplaced options and invalid names are usage errors.
TEST(ParseCommand, RejectsMisuse) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {},
           {"frobnicate"},
           {"node"},
           {"node", "list", "extra"},
           {"volume", "show"},
           {"volume", "show", "a", "b"},
           {"volume", "list", "--size", "1G"},
           {"group", "show", "g", "--replicas", "2"},
           {"volume", "show", "-bad"},
           {"volume", "show", "a/b"},
           {"volume", "show", std::string(65, 'a')},
           {"version", "now"},
       }) {
    auto c = commandOf(args);
    EXPECT_FALSE(c.isOk()) << (args.empty() ? "(none)" : args[0]);
    if (!c.isOk()) {
      EXPECT_EQ(c.status().code(), ErrorCode::kInvalidArgument);
    }
  }
}

}  // namespace
}  // namespace tandem::cli
