// tandem-node: the node worker. Thin: parses options, opens the storage pool, starts the
// replication engine and the NBD server, and runs the NodeAgent until SIGINT/SIGTERM.
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "tandem/common/log.h"
#include "tandem/config/daemon.h"
#include "tandem/config/options.h"
#include "tandem/devices/provider_factory.h"
#include "tandem/nbd/nbd_server.h"
#include "tandem/nbd/static_export_registry.h"
#include "tandem/node/node_agent.h"
#include "tandem/replication/replication_service.h"

namespace {

using tandem::config::OptionSpec;
using tandem::config::OptionType;

std::vector<OptionSpec> optionTable() {
  return {
      {"name", OptionType::kString, "", "node name, unique in the cluster (required)"},
      {"controller-url", OptionType::kString, "", "controller API, e.g. https://127.0.0.1:8443 (required)"},
      {"ca-file", OptionType::kString, "", "PEM CA bundle to verify the controller (default: system store)"},
      {"admin-token-file", OptionType::kString, "", "file with the token used to register (required)"},
      {"state-dir", OptionType::kString, "", "directory for identity, engine metadata and the NBD socket (required)"},
      {"pool-name", OptionType::kString, "default", "name of this node's storage pool"},
      {"pool-provider", OptionType::kString, "file", "storage provider of the pool: file, lvm-thin or zfs"},
      {"pool-dir", OptionType::kString, "", "file provider: directory of volume files (default: <state-dir>/pool)"},
      {"pool-volume-group", OptionType::kString, "", "lvm-thin provider: volume group"},
      {"pool-thin-pool", OptionType::kString, "", "lvm-thin provider: thin pool LV"},
      {"pool-zpool", OptionType::kString, "", "zfs provider: zpool (optionally with a dataset, pool/ds)"},
      {"address", OptionType::kString, "127.0.0.1", "address peers and clients use to reach this node"},
      {"listen", OptionType::kString, "127.0.0.1", "address the NBD and replication ports bind to"},
      {"nbd-port", OptionType::kUint, "0", "NBD TCP port (0: any free port)"},
      {"nbd-socket", OptionType::kString, "", "NBD UNIX socket (default: <state-dir>/nbd.sock)"},
      {"replication-port", OptionType::kUint, "0", "replication TCP port (0: any free port)"},
      {"heartbeat-interval", OptionType::kDuration, "2s", "how often the node reports status"},
      {"poll-wait", OptionType::kDuration, "25s", "long-poll wait for desired-state changes"},
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
  for (const char* required : {"name", "controller-url", "admin-token-file", "state-dir"}) {
    if (options.string(required).empty()) return fail(std::string("--") + required + " is required");
  }
  if (options.uint("nbd-port") > 65535 || options.uint("replication-port") > 65535) return fail("ports are 0-65535");
  std::string state_dir = options.string("state-dir");
  std::string pool_dir = options.string("pool-dir").empty() ? state_dir + "/pool" : options.string("pool-dir");
  std::string metadata_dir = state_dir + "/replicas";
  std::error_code ec;
  std::filesystem::create_directories(metadata_dir, ec);
  if (options.string("pool-provider") == "file") std::filesystem::create_directories(pool_dir, ec);
  if (ec) return fail("cannot create " + metadata_dir + " or " + pool_dir + ": " + ec.message());

  std::ifstream token_in(options.string("admin-token-file"));
  std::string admin_token;
  std::getline(token_in, admin_token);
  if (admin_token.empty()) return fail("cannot read a token from " + options.string("admin-token-file"));

  sigset_t signals = tandem::config::blockStopSignals();

  tandem::devices::PoolConfig pool_config;
  pool_config.provider = options.string("pool-provider");
  pool_config.path = pool_dir;
  pool_config.volume_group = options.string("pool-volume-group");
  pool_config.thin_pool = options.string("pool-thin-pool");
  std::string zpool = options.string("pool-zpool");
  pool_config.zpool = zpool.substr(0, zpool.find('/'));
  if (zpool.find('/') != std::string::npos) pool_config.dataset = zpool.substr(zpool.find('/') + 1);
  auto provider = tandem::devices::makeProvider(pool_config);
  if (!provider.isOk()) return fail("storage pool: " + provider.status().message());
  std::map<std::string, tandem::node::Pool> pools;
  pools[options.string("pool-name")] = tandem::node::Pool{options.string("pool-name"), std::move(provider).value()};

  tandem::replication::ServiceOptions repl_options;
  repl_options.node_name = options.string("name");
  repl_options.bind_address = options.string("listen");
  repl_options.port = static_cast<uint16_t>(options.uint("replication-port"));
  auto engine = tandem::replication::ReplicationService::start(repl_options, tandem::RealClock::instance());
  if (!engine.isOk()) return fail("replication: " + engine.status().message());

  tandem::nbd::StaticExportRegistry exports;
  tandem::nbd::ServerOptions nbd_options;
  nbd_options.tcp_bind_address = options.string("listen");
  nbd_options.tcp_port = static_cast<uint16_t>(options.uint("nbd-port"));
  nbd_options.unix_socket_path =
      options.string("nbd-socket").empty() ? state_dir + "/nbd.sock" : options.string("nbd-socket");
  auto nbd = tandem::nbd::NbdServer::start(nbd_options, exports);
  if (!nbd.isOk()) return fail("nbd: " + nbd.status().message());

  tandem::nbd::NbdServer* nbd_server = nbd->get();
  tandem::node::Reconciler reconciler({metadata_dir, ""}, pools, **engine, exports,
                                      [nbd_server](const std::string& name) { nbd_server->disconnectExport(name); });

  tandem::http::ClientOptions client_options;
  client_options.base_url = options.string("controller-url");
  client_options.ca_file = options.string("ca-file");
  auto client = tandem::node::ControllerClient::create(client_options, admin_token);
  if (!client.isOk()) return fail("controller client: " + client.status().message());

  tandem::node::NodeAgentOptions agent_options;
  agent_options.name = options.string("name");
  agent_options.address = options.string("address");
  agent_options.nbd_port = (*nbd)->tcpPort();
  agent_options.replication_port = (*engine)->port();
  agent_options.state_dir = state_dir;
  agent_options.poll_wait = std::chrono::duration_cast<std::chrono::seconds>(options.duration("poll-wait"));
  agent_options.heartbeat_interval = options.duration("heartbeat-interval");
  tandem::node::NodeAgent agent(agent_options, **client, reconciler);
  tandem::log::info("node", options.string("name") + ": nbd port " + std::to_string((*nbd)->tcpPort()) +
                                ", socket " + nbd_options.unix_socket_path + ", replication port " +
                                std::to_string((*engine)->port()));
  agent.start();

  int sig = 0;
  sigwait(&signals, &sig);
  tandem::log::info("node", "stopping");
  agent.stop(/*wait_for_poll=*/false);
  (*nbd)->stop();
  (*engine)->stop();
  // The detached poll thread may still sit in a long-poll: leave without running destructors.
  std::fflush(nullptr);
  _exit(0);
}
