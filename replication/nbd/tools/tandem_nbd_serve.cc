// tandem-nbd-serve: serves one file over NBD under an export name, for e2e tests and benchmarks.
//
//   tandem-nbd-serve --file PATH [--export NAME] [--bind ADDR] [--port N] [--unix PATH]
//                    [--no-tcp] [--max-payload BYTES] [--multi-conn] [--log-level LEVEL]
//
// Prints "port N" (when listening on TCP) and "ready" on stdout once accepting, then runs
// until SIGINT or SIGTERM. Exit status: 0 after a signal, 2 on bad arguments, 1 on errors.
#include <signal.h>

#include <charconv>
#include <cstdio>
#include <iostream>
#include <string>
#include <string_view>

#include "tandem/common/log.h"
#include "tandem/devices/file_block_device.h"
#include "tandem/nbd/nbd_server.h"
#include "tandem/nbd/static_export_registry.h"

namespace {

template <typename T>
bool parseNumber(std::string_view text, T* out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size();
}

int usage(std::string_view error) {
  std::cerr << "tandem-nbd-serve: " << error << "\n"
            << "usage: tandem-nbd-serve --file PATH [--export NAME] [--bind ADDR] [--port N]\n"
            << "                        [--unix PATH] [--no-tcp] [--max-payload BYTES] [--multi-conn]\n"
            << "                        [--requests-in-flight N]\n"
            << "                        [--log-level debug|info|warn|error]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string file, export_name;
  tandem::nbd::ServerOptions options;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    auto value = [&](std::string_view* out) {
      if (i + 1 >= argc) return false;
      *out = argv[++i];
      return true;
    };
    std::string_view v;
    if (arg == "--no-tcp") {
      options.listen_tcp = false;
    } else if (arg == "--multi-conn") {
      options.advertise_multi_conn = true;
    } else if (!value(&v)) {
      return usage("unknown option or missing value: " + std::string(arg));
    } else if (arg == "--file") {
      file = v;
    } else if (arg == "--export") {
      export_name = v;
    } else if (arg == "--bind") {
      options.tcp_bind_address = v;
    } else if (arg == "--port") {
      if (!parseNumber(v, &options.tcp_port)) return usage("bad port: " + std::string(v));
    } else if (arg == "--unix") {
      options.unix_socket_path = v;
    } else if (arg == "--max-payload") {
      if (!parseNumber(v, &options.max_payload_bytes) || options.max_payload_bytes == 0) {
        return usage("bad --max-payload: " + std::string(v));
      }
    } else if (arg == "--requests-in-flight") {
      if (!parseNumber(v, &options.requests_in_flight) || options.requests_in_flight == 0) {
        return usage("bad --requests-in-flight: " + std::string(v));
      }
    } else if (arg == "--log-level") {
      tandem::log::Level level;
      if (!tandem::log::parseLevel(v, &level)) return usage("bad log level: " + std::string(v));
      tandem::log::setLevel(level);
    } else {
      return usage("unknown option: " + std::string(arg));
    }
  }
  if (file.empty()) return usage("--file is required");

  // Block the signals before any thread starts so that only sigwait() below receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto device = tandem::devices::FileBlockDevice::open(file);
  if (!device.isOk()) {
    std::cerr << "tandem-nbd-serve: " << device.status().toString() << "\n";
    return 1;
  }
  tandem::nbd::StaticExportRegistry registry;
  registry.add(export_name, std::shared_ptr<tandem::devices::BlockDevice>(std::move(device).value()));
  auto server = tandem::nbd::NbdServer::start(options, registry);
  if (!server.isOk()) {
    std::cerr << "tandem-nbd-serve: " << server.status().toString() << "\n";
    return 1;
  }
  if (options.listen_tcp) std::cout << "port " << (*server)->tcpPort() << "\n";
  std::cout << "ready" << std::endl;

  int received = 0;
  sigwait(&signals, &received);
  (*server)->stop();
  return 0;
}
