// tandem-controller: declared state in SQLite, the REST API over HTTPS, liveness.
// Thin: parses options, wires the store, cluster service, router and HTTPS server, then
// ticks the cluster service until SIGINT/SIGTERM.
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "tandem/common/log.h"
#include "tandem/config/daemon.h"
#include "tandem/config/options.h"
#include "tandem/controller/api_router.h"
#include "tandem/controller/cluster_service.h"
#include "tandem/controller/store.h"
#include "tandem/http/https_server.h"

namespace {

using tandem::config::OptionSpec;
using tandem::config::OptionType;

std::vector<OptionSpec> optionTable() {
  return {
      {"listen", OptionType::kString, "127.0.0.1", "address the HTTPS API listens on"},
      {"port", OptionType::kUint, "8443", "HTTPS port (0: any free port; see --port-file)"},
      {"port-file", OptionType::kString, "", "write the bound port to this file once listening"},
      {"tls-cert", OptionType::kString, "", "PEM certificate chain of the API (required)"},
      {"tls-key", OptionType::kString, "", "PEM private key of the API (required)"},
      {"admin-token-file", OptionType::kString, "", "file holding the admin bearer token (required)"},
      {"service-token-file", OptionType::kString, "",
       "file holding the service token: volumes, and reading pools and groups (for Cinder, libvirt)"},
      {"join-token-file", OptionType::kString, "",
       "file holding the join token storage hosts register with (then each uses its own node token)"},
      {"database", OptionType::kString, "tandem.db", "SQLite database file of the declared state"},
      {"heartbeat-timeout", OptionType::kDuration, "6s", "a node silent this long is marked offline"},
      {"replace-replicas-after", OptionType::kDuration, "10m",
       "re-create a secondary replica elsewhere when its node has been silent this long (0: never)"},
      {"long-poll-max", OptionType::kDuration, "30s", "longest wait of a node's desired-state poll"},
      {"body-limit", OptionType::kUint, "1048576", "largest accepted request body in bytes (413 above)"},
      {"internal-body-limit", OptionType::kUint, "67108864",
       "largest accepted body of the internal node routes (a node's status grows with its replicas: "
       "about 300 bytes each), in bytes (413 above)"},
      {"threads", OptionType::kUint, "4", "HTTPS I/O threads"},
      {"drbd-minors", OptionType::kString, "1000-49999", "DRBD minors drbd-engine volumes get (cluster-wide)"},
      {"drbd-ports", OptionType::kString, "7000-7999", "TCP ports drbd-engine replicas get (per node)"},
      {"drbd-snapshot-timeout", OptionType::kDuration, "30s",
       "a drbd volume's cluster-wide snapshot not done this long after the controller first drives it is an "
       "error (every replica then resumes I/O)"},
      tandem::config::logLevelOption(),
  };
}

int fail(const std::string& message) {
  std::cerr << "tandem-controller: " << message << "\n";
  return 1;
}

std::string readTrimmed(const std::string& path, bool* ok) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  *ok = static_cast<bool>(in);
  std::string s = ss.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  tandem::config::Options options(optionTable());
  if (auto s = options.parse(argc, argv); !s.isOk()) return fail(s.message());
  if (options.helpRequested()) {
    std::cout << options.helpText("tandem-controller", "The Tandem controller: declared state and REST API.");
    return 0;
  }
  if (auto s = tandem::config::applyLogLevel(options); !s.isOk()) return fail(s.message());
  for (const char* required : {"tls-cert", "tls-key", "admin-token-file"}) {
    if (options.string(required).empty()) return fail(std::string("--") + required + " is required");
  }
  bool ok = false;
  std::string admin_token = readTrimmed(options.string("admin-token-file"), &ok);
  if (!ok || admin_token.size() < 16) {
    return fail("cannot read an admin token of at least 16 characters from " + options.string("admin-token-file"));
  }
  // Optional narrower tokens; each must differ from the others so a role is never ambiguous.
  std::string role_tokens[2];
  const char* role_options[2] = {"service-token-file", "join-token-file"};
  for (int i = 0; i < 2; ++i) {
    if (options.string(role_options[i]).empty()) continue;
    role_tokens[i] = readTrimmed(options.string(role_options[i]), &ok);
    if (!ok || role_tokens[i].size() < 16) {
      return fail("cannot read a token of at least 16 characters from " + options.string(role_options[i]));
    }
  }
  if (role_tokens[0] == admin_token || role_tokens[1] == admin_token ||
      (!role_tokens[0].empty() && role_tokens[0] == role_tokens[1])) {
    return fail("the admin, service and join tokens must all differ");
  }
  if (options.uint("port") > 65535) return fail("--port must be at most 65535");

  // Signals are taken synchronously by the main thread; block them before any thread starts.
  sigset_t signals = tandem::config::blockStopSignals();

  auto store = tandem::controller::openSqliteStore({options.string("database")});
  if (!store.isOk()) return fail(store.status().message());
  tandem::controller::ClusterOptions cluster_options;
  cluster_options.heartbeat_timeout = options.duration("heartbeat-timeout");
  cluster_options.replace_after = options.duration("replace-replicas-after");
  cluster_options.drbd_snapshot_timeout = options.duration("drbd-snapshot-timeout");
  auto minors = tandem::controller::parseDrbdRange(options.string("drbd-minors"), "--drbd-minors");
  if (!minors.isOk()) return fail(minors.status().message());
  auto ports = tandem::controller::parseDrbdRange(options.string("drbd-ports"), "--drbd-ports");
  if (!ports.isOk()) return fail(ports.status().message());
  cluster_options.drbd_ranges.minor_first = minors->first;
  cluster_options.drbd_ranges.minor_last = minors->second;
  cluster_options.drbd_ranges.port_first = ports->first;
  cluster_options.drbd_ranges.port_last = ports->second;
  if (auto s = tandem::controller::validateDrbdRanges(cluster_options.drbd_ranges); !s.isOk()) return fail(s.message());
  tandem::controller::ClusterService cluster(**store, tandem::RealClock::instance(), cluster_options);
  tandem::controller::ApiOptions api_options;
  api_options.admin_token = admin_token;
  api_options.service_token = role_tokens[0];
  api_options.join_token = role_tokens[1];
  api_options.long_poll_max = options.duration("long-poll-max");
  api_options.version = TANDEM_VERSION;
  tandem::controller::ApiRouter router(cluster, api_options);

  tandem::http::ServerOptions server_options;
  server_options.bind_address = options.string("listen");
  server_options.port = static_cast<uint16_t>(options.uint("port"));
  server_options.certificate_file = options.string("tls-cert");
  server_options.private_key_file = options.string("tls-key");
  server_options.body_limit_bytes = options.uint("body-limit");
  server_options.body_limits_by_prefix = {{"/v1/internal/", options.uint("internal-body-limit")}};
  server_options.threads = static_cast<int>(std::max<uint64_t>(1, options.uint("threads")));
  auto server = tandem::http::HttpsServer::start(server_options, router);
  if (!server.isOk()) return fail(server.status().message());
  uint16_t port = (*server)->port();
  if (!options.string("port-file").empty()) {
    std::string tmp = options.string("port-file") + ".tmp";
    std::ofstream(tmp) << port << "\n";
    if (std::rename(tmp.c_str(), options.string("port-file").c_str()) != 0) return fail("cannot write --port-file");
  }
  tandem::log::info("controller", "listening on https://" + server_options.bind_address + ":" +
                                      std::to_string(port) + " (cluster " + (*store)->clusterId() + ")");

  // Serving already (health answers); what the first create would build is built now.
  if (auto s = cluster.warmUp(); !s.isOk()) {
    tandem::log::warn("controller", "warming up placement failed (the first create retries): " + s.toString());
  }

  timespec tick{0, 200'000'000};
  while (true) {
    int sig = sigtimedwait(&signals, nullptr, &tick);
    if (sig == SIGINT || sig == SIGTERM) break;
    cluster.tick();
  }
  tandem::log::info("controller", "stopping");
  (*server)->stop();
  return 0;
}
