// tandem-node: the node worker. Thin: parses options, opens the storage pool, starts the
// replication engine and the NBD server, and runs the NodeAgent until SIGINT/SIGTERM.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "tandem/attach/local_device_manager.h"
#include "tandem/common/log.h"
#include "tandem/config/daemon.h"
#include "tandem/config/options.h"
#include "tandem/devices/command_runner.h"
#include "tandem/devices/provider_factory.h"
#include "tandem/drbd/capability.h"
#include "tandem/drbd/config_writer.h"
#include "tandem/drbd/events2_watcher.h"
#include "tandem/drbd/lifecycle.h"
#include "tandem/drbd/line_process.h"
#include "tandem/drbd/recording_runner.h"
#include "tandem/node/drbd_volumes.h"
#include "tandem/nbd/nbd_server.h"
#include "tandem/nbd/static_export_registry.h"
#include "tandem/node/attachment_reconciler.h"
#include "tandem/node/device_exports.h"
#include "tandem/node/label_spec.h"
#include "tandem/node/node_agent.h"
#include "tandem/node/pool_spec.h"
#include "tandem/replication/replication_service.h"

namespace {

using tandem::config::OptionSpec;
using tandem::config::OptionType;

std::vector<OptionSpec> optionTable() {
  return {
      {"name", OptionType::kString, "", "node name, unique in the cluster (required)"},
      {"controller-url", OptionType::kString, "", "controller API, e.g. https://127.0.0.1:8443 (required)"},
      {"ca-file", OptionType::kString, "", "PEM CA bundle to verify the controller (default: system store)"},
      {"join-token-file", OptionType::kString, "",
       "file with the controller's join token, used to register (then the node uses its own token)"},
      {"admin-token-file", OptionType::kString, "", "register with the admin token instead of a join token"},
      {"state-dir", OptionType::kString, "", "directory for identity, engine metadata and the NBD socket (required)"},
      {"pool", OptionType::kList, "",
       "a storage pool, repeatable: NAME=file:DIR, NAME=lvm-thin:VG/THINPOOL or NAME=zfs:ZPOOL[/DATASET] "
       "(default: default=file:<state-dir>/pool)"},
      {"label", OptionType::kList, "",
       "a placement label KEY=VALUE, repeatable (e.g. zone=a); resource groups spread replicas by them"},
      {"address", OptionType::kString, "127.0.0.1", "address peers and clients use to reach this node"},
      {"listen", OptionType::kString, "127.0.0.1", "address the NBD and replication ports bind to"},
      {"nbd-port", OptionType::kUint, "10809", "NBD TCP port (10809 is NBD's registered port; 0: any free port)"},
      {"nbd-socket", OptionType::kString, "", "NBD UNIX socket (default: <state-dir>/nbd.sock)"},
      {"device-link-root", OptionType::kString, "/dev/tandem",
       "directory of the attached volumes' stable paths (<root>/<volume>)"},
      {"attach-io-wait", OptionType::kDuration, "30s",
       "a block attachment's I/O waits this long for its primary (a reconnect, or a planned handover) "
       "before failing with EIO"},
      {"replication-port", OptionType::kUint, "7789", "replication TCP port (0: any free port)"},
      {"nbd-requests-in-flight", OptionType::kUint, "8",
       "requests of one NBD connection executed concurrently (writes wait for replicas; 1: in order)"},
      {"peer-timeout", OptionType::kDuration, "5s",
       "a peer silent this long (no ack, no ping) is dropped; writes then go on without it"},
      {"snapshot-precopy", OptionType::kBool, "true",
       "take a native volume's snapshot in two steps where the pool's snapshot costs time (file pools): "
       "copy while writes go on, then hold writes only to copy what changed (false: hold them for the "
       "whole provider snapshot)"},
      {"drbd-proc-file", OptionType::kString, "/proc/drbd",
       "where the DRBD kernel module's version is read (tests point it at a file to fake a DRBD host)"},
      {"drbd-command-runner", OptionType::kString, "",
       "the drbd engine's drbdadm/drbdsetup/drbdmeta: empty runs them; record:FILE only appends each "
       "command line to FILE (tests on hosts without the DRBD module; nothing reaches the kernel)"},
      {"drbd-device-dir", OptionType::kString, "/dev/drbd/by-res",
       "where the DRBD devices are (<dir>/<resource>/0, udev's links): block attachments name them, nbd "
       "attachments export them (tests on hosts without the DRBD module point it at stand-in files)"},
      {"drbd-suspend-deadline", OptionType::kDuration, "10s",
       "the longest DRBD I/O stays suspended for a cluster-wide snapshot without the controller's next phase "
       "(then it is resumed and the snapshot fails)"},
      {"drbd-events2-file", OptionType::kString, "",
       "tests only: read the drbd engine's state from `tail -F FILE` instead of `drbdsetup events2`"},
      {"heartbeat-interval", OptionType::kDuration, "2s", "how often the node reports status"},
      {"full-report-every", OptionType::kUint, "30",
       "status reports are deltas against the last acknowledged one; every so many is full (1: all)"},
      {"poll-wait", OptionType::kDuration, "25s", "long-poll wait for desired-state changes"},
      {"full-desired-every", OptionType::kUint, "100",
       "desired-state polls ask for what changed since the state last applied; every so many asks for "
       "the whole state (1: all)"},
      tandem::config::logLevelOption(),
  };
}

int fail(const std::string& message) {
  std::cerr << "tandem-node: " << message << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  tandem::config::Options options(optionTable());
  if (auto s = options.parse(argc, argv); !s.isOk()) return fail(s.message());
  if (options.helpRequested()) {
    std::cout << options.helpText("tandem-node", "The Tandem node worker: storage, replication, NBD exports.");
    return 0;
  }
  if (auto s = tandem::config::applyLogLevel(options); !s.isOk()) return fail(s.message());
  for (const char* required : {"name", "controller-url", "state-dir"}) {
    if (options.string(required).empty()) return fail(std::string("--") + required + " is required");
  }
  if (options.string("join-token-file").empty() == options.string("admin-token-file").empty()) {
    return fail("give exactly one of --join-token-file (preferred) and --admin-token-file");
  }
  const std::string token_file = options.string("join-token-file").empty() ? options.string("admin-token-file")
                                                                             : options.string("join-token-file");
  if (options.uint("nbd-port") > 65535 || options.uint("replication-port") > 65535) return fail("ports are 0-65535");
  std::string state_dir = std::filesystem::absolute(options.string("state-dir")).string();
  std::string metadata_dir = state_dir + "/replicas";
  std::error_code ec;
  std::filesystem::create_directories(metadata_dir, ec);
  if (ec) return fail("cannot create " + metadata_dir + ": " + ec.message());
  std::vector<std::string> pool_texts = options.list("pool");
  if (pool_texts.empty()) {
    std::filesystem::create_directories(state_dir + "/pool", ec);
    if (ec) return fail("cannot create " + state_dir + "/pool: " + ec.message());
    pool_texts.push_back("default=file:" + state_dir + "/pool");
  }

  auto labels = tandem::node::parseLabels(options.list("label"));
  if (!labels.isOk()) return fail(labels.status().message());

  std::ifstream token_in(token_file);
  std::string registration_token;
  std::getline(token_in, registration_token);
  if (registration_token.empty()) return fail("cannot read a token from " + token_file);

  sigset_t signals = tandem::config::blockStopSignals();

  std::map<std::string, tandem::node::Pool> pools;
  for (const auto& text : pool_texts) {
    auto spec = tandem::node::parsePoolSpec(text);
    if (!spec.isOk()) return fail(spec.status().message());
    if (pools.count(spec->name)) return fail("pool '" + spec->name + "' is given twice");
    auto provider = tandem::devices::makeProvider(spec->config);
    if (!provider.isOk()) return fail("pool '" + spec->name + "': " + provider.status().message());
    pools[spec->name] = tandem::node::Pool{spec->name, std::move(provider).value()};
  }

  tandem::replication::ServiceOptions repl_options;
  repl_options.node_name = options.string("name");
  repl_options.bind_address = options.string("listen");
  repl_options.port = static_cast<uint16_t>(options.uint("replication-port"));
  repl_options.peer_timeout = options.duration("peer-timeout");
  if (repl_options.peer_timeout < std::chrono::milliseconds(100)) return fail("--peer-timeout must be at least 100ms");
  // The engine takes snapshots (SNAPSHOT frames, snapshotVolume) in the pool holding the volume.
  repl_options.take_snapshot = [&pools](const std::string& volume_uuid, const std::string& snapshot) {
    for (auto& [name, pool] : pools) {
      if (pool.provider->info(volume_uuid).isOk()) return pool.provider->snapshot(volume_uuid, snapshot);
    }
    return tandem::Status(tandem::ErrorCode::kNotFound, "no pool holds volume " + volume_uuid);
  };
  // ...in two steps where the pool's snapshot costs time (the file pool: precopy while the volume
  // is written, then only what changed inside the write pause).
  if (options.boolean("snapshot-precopy")) repl_options.stage_snapshot = [&pools](const std::string& volume_uuid, const std::string& snapshot)
      -> tandem::Result<std::unique_ptr<tandem::devices::SnapshotStaging>> {
    for (auto& [name, pool] : pools) {
      if (pool.provider->info(volume_uuid).isOk()) return pool.provider->stageSnapshot(volume_uuid, snapshot);
    }
    return tandem::Status(tandem::ErrorCode::kNotFound, "no pool holds volume " + volume_uuid);
  };
  auto engine = tandem::replication::ReplicationService::start(repl_options, tandem::RealClock::instance());
  if (!engine.isOk()) return fail("replication: " + engine.status().message());

  tandem::nbd::StaticExportRegistry exports;
  tandem::nbd::ServerOptions nbd_options;
  nbd_options.tcp_bind_address = options.string("listen");
  nbd_options.tcp_port = static_cast<uint16_t>(options.uint("nbd-port"));
  nbd_options.requests_in_flight =
      static_cast<uint32_t>(std::clamp<uint64_t>(options.uint("nbd-requests-in-flight"), 1, 64));
  nbd_options.unix_socket_path =
      options.string("nbd-socket").empty() ? state_dir + "/nbd.sock" : options.string("nbd-socket");
  auto nbd = tandem::nbd::NbdServer::start(nbd_options, exports);
  if (!nbd.isOk()) return fail("nbd: " + nbd.status().message());

  tandem::nbd::NbdServer* nbd_server = nbd->get();
  auto identity = tandem::node::loadIdentity(state_dir);
  if (!identity.isOk()) return fail(identity.status().message());
  tandem::node::Reconciler reconciler({metadata_dir}, pools, **engine, exports,
                                      [nbd_server](const std::string& name) { nbd_server->disconnectExport(name); });

  // Attachments: block devices made here live in processes of their own (tandem-disk-fuse) and
  // outlive this worker; adopt what a previous run left before the first desired state.
  tandem::attach::LocalDeviceOptions device_options;
  device_options.link_root = options.string("device-link-root");
  device_options.state_dir = state_dir + "/attach";
  device_options.io_wait = options.duration("attach-io-wait");
  std::error_code exe_ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", exe_ec);
  device_options.disk_fuse_program = exe_ec ? "tandem-disk-fuse" : (exe.parent_path() / "tandem-disk-fuse").string();
  auto devices = tandem::attach::createLocalDeviceManager(
      device_options, tandem::attach::detectHostCapabilities(),
      std::make_shared<tandem::devices::SubprocessCommandRunner>(std::chrono::seconds(60)));
  std::unique_ptr<tandem::node::AttachmentReconciler> attachments;
  if (!devices.isOk()) {
    tandem::log::warn("node", "no local block devices on this host (attachments in block mode are refused): " +
                                  devices.status().toString());
    reconciler.setNoBlockDevices(devices.status().message());
  } else {
    auto adopted = (*devices)->adopt();
    if (!adopted.isOk()) return fail("adopting the attachments of " + device_options.state_dir + ": " +
                                     adopted.status().message());
    for (const auto& a : adopted->attachments) {
      tandem::log::info("node", "adopted attachment of volume " + a.volume + " at " + a.stable_path + " (" +
                                    std::string(tandem::attach::attachmentHealthName(a.health)) + ")");
    }
    for (const auto& c : adopted->cleaned) tandem::log::info("node", "cleaned up attachment " + c);
    attachments = std::make_unique<tandem::node::AttachmentReconciler>(**devices, nbd_options.unix_socket_path,
                                                                       device_options.link_root);
    reconciler.setAttachments(attachments.get());
  }

  // The DRBD engine's capability: drbd-utils probed once, the kernel module (drbd-proc-file) at
  // every report, so a module loaded later is seen.
  tandem::devices::SubprocessCommandRunner probe_runner(std::chrono::seconds(10));
  const auto drbd_utils = tandem::drbd::probeDrbdUtils(probe_runner);
  const std::string proc_file = options.string("drbd-proc-file");
  auto drbd_capability = [drbd_utils, proc_file] {
    std::optional<std::string> proc;
    if (std::ifstream in(proc_file); in) {
      std::ostringstream text;
      text << in.rdbuf();
      proc = text.str();
    }
    return tandem::drbd::assessDrbd(drbd_utils, proc);
  };
  reconciler.setDrbdCapability([drbd_capability] { return tandem::drbd::capabilityReport(drbd_capability()); });

  // The drbd engine: resources in <state-dir>/drbd, commands through the real tools (or recorded),
  // state from the events2 watcher (started only where DRBD can run, or from a test's file).
  const std::string drbd_runner_spec = options.string("drbd-command-runner");
  std::unique_ptr<tandem::devices::CommandRunner> drbd_runner;
  if (drbd_runner_spec.empty()) {
    drbd_runner = std::make_unique<tandem::devices::SubprocessCommandRunner>(std::chrono::seconds(120));
  } else if (drbd_runner_spec.rfind("record:", 0) == 0 && drbd_runner_spec.size() > 7) {
    drbd_runner = std::make_unique<tandem::drbd::RecordingCommandRunner>(drbd_runner_spec.substr(7));
    tandem::log::warn("node", "drbd engine: commands are only RECORDED in " + drbd_runner_spec.substr(7) +
                                  " (--drbd-command-runner); nothing reaches the kernel");
  } else {
    return fail("--drbd-command-runner must be empty or record:FILE, not '" + drbd_runner_spec + "'");
  }
  const std::string drbd_dir = state_dir + "/drbd";
  std::filesystem::create_directories(drbd_dir, ec);
  if (ec) return fail("cannot create " + drbd_dir + ": " + ec.message());
  tandem::drbd::ConfigWriter drbd_writer(*drbd_runner, {drbd_dir + "/res", drbd_dir + "/drbd.conf"});
  if (auto s = drbd_writer.ensureConfig(); !s.isOk()) return fail("drbd: " + s.message());
  tandem::drbd::DrbdLifecycle drbd_lifecycle(*drbd_runner, drbd_writer,
                                             {"drbdadm", "drbdsetup", "drbdmeta", drbd_dir + "/drbd.conf", ""});
  tandem::drbd::SubprocessLineRunner events2_processes;
  tandem::drbd::Events2WatcherOptions events2_options;
  events2_options.log = [](const std::string& m) { tandem::log::warn("drbd", "events2: " + m); };
  const std::string events2_file = options.string("drbd-events2-file");
  if (!events2_file.empty()) events2_options.argv = {"tail", "-n", "+1", "-F", events2_file};
  tandem::drbd::Events2Watcher events2(events2_processes, events2_options);
  const auto capability_now = drbd_capability();
  const bool watch = !events2_file.empty() || capability_now.usable();
  const std::string drbd_device_dir = options.string("drbd-device-dir");
  if (drbd_device_dir != "/dev/drbd/by-res") {
    tandem::log::warn("node", "drbd engine: DRBD devices are looked up in " + drbd_device_dir +
                                  " (--drbd-device-dir), not /dev/drbd/by-res");
  }
  tandem::node::DrbdVolumesOptions drbd_options;
  drbd_options.self = options.string("name");
  drbd_options.by_res_dir = drbd_device_dir;
  drbd_options.suspend_dir = drbd_dir + "/suspended";  // a restarted worker resumes what is left here
  drbd_options.suspend_deadline = options.duration("drbd-suspend-deadline");
  // The drain check before a snapshot reads fresh counters (drbdsetup events2 --now --statistics);
  // with --drbd-events2-file the scripted file is the whole kernel state, read by the stream.
  if (events2_file.empty()) {
    drbd_options.current_state = [&drbd_lifecycle](const std::string& resource) {
      return drbd_lifecycle.currentState(resource);
    };
  }
  tandem::node::DrbdVolumes drbd_volumes(drbd_options, pools, drbd_lifecycle,
                                         [&events2, watch] {
                                           return watch ? events2.snapshot().state : tandem::drbd::Events2State{};
                                         });
  // nbd attachments of drbd volumes: the device is exported by this node's NBD server, opened only
  // while a client is connected.
  tandem::node::RegistryDeviceExports drbd_exports(
      exports, [nbd_server](const std::string& name) { nbd_server->disconnectExport(name); });
  drbd_volumes.setExports(&drbd_exports);
  reconciler.setDrbd(&drbd_volumes);
  // DRBD I/O never stays suspended past the local deadline, even while no desired state comes.
  std::thread([&drbd_volumes] {
    for (;;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
      drbd_volumes.enforceDeadlines();
    }
  }).detach();
  if (watch) events2.start();
  tandem::log::info("node", "drbd engine: " + (capability_now.usable()
                                                   ? "DRBD " + capability_now.kernel_version + " (utils " +
                                                         capability_now.utils_version + ")"
                                                   : "not available here: " + capability_now.missing) +
                                (events2_file.empty() ? "" : "; events2 read from " + events2_file));

  tandem::http::ClientOptions client_options;
  client_options.base_url = options.string("controller-url");
  client_options.ca_file = options.string("ca-file");
  auto client = tandem::node::ControllerClient::create(client_options, registration_token);
  if (!client.isOk()) return fail("controller client: " + client.status().message());

  tandem::node::NodeAgentOptions agent_options;
  agent_options.name = options.string("name");
  agent_options.address = options.string("address");
  agent_options.nbd_port = (*nbd)->tcpPort();
  agent_options.replication_port = (*engine)->port();
  agent_options.labels = *labels;
  agent_options.state_dir = state_dir;
  agent_options.poll_wait = std::chrono::duration_cast<std::chrono::seconds>(options.duration("poll-wait"));
  agent_options.heartbeat_interval = options.duration("heartbeat-interval");
  agent_options.full_report_every =
      static_cast<uint32_t>(std::clamp<uint64_t>(options.uint("full-report-every"), 1, 1000000));
  agent_options.full_desired_every =
      static_cast<uint32_t>(std::clamp<uint64_t>(options.uint("full-desired-every"), 1, 1000000));
  tandem::node::NodeAgent agent(agent_options, *identity, **client, reconciler);
  tandem::log::info("node", options.string("name") + ": nbd port " + std::to_string((*nbd)->tcpPort()) +
                                ", socket " + nbd_options.unix_socket_path + ", replication port " +
                                std::to_string((*engine)->port()));
  const std::string listen = options.string("listen");
  if (listen != "127.0.0.1" && listen != "::1" && listen != "localhost") {
    tandem::log::warn("node", "the NBD and replication ports listen on " + listen +
                                  " without authentication or encryption: allow only the storage network to reach them");
  }
  agent.start();

  int sig = 0;
  sigwait(&signals, &sig);
  tandem::log::info("node", "stopping");
  agent.stop(/*wait_for_poll=*/false);
  events2.stop();  // ends drbdsetup events2 (or the test's tail)
  (*nbd)->stop();
  (*engine)->stop();
  // The detached poll thread may still sit in a long-poll: leave without running destructors.
  std::fflush(nullptr);
  _exit(0);
}
