#include "tandem/testing/test_certs.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <vector>

extern char** environ;

namespace tandem::testing {
namespace {

// Runs argv (searched in PATH) with stdout and stderr appended to `log_file`.
Status run(const std::vector<std::string>& args, const std::string& log_file) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                   0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return Status::fromErrno(rc, "spawn " + args[0]);
  int wstatus = 0;
  while (::waitpid(pid, &wstatus, 0) < 0) {
    if (errno != EINTR) return Status::fromErrno(errno, "waitpid " + args[0]);
  }
  if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
    std::ifstream in(log_file);
    std::stringstream out;
    out << in.rdbuf();
    std::string joined;
    for (const auto& a : args) joined += a + " ";
    return Status(ErrorCode::kInternal, "command failed: " + joined + "\n" + out.str());
  }
  return Status::ok();
}

Status writeFile(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  out.close();
  if (!out) return Status(ErrorCode::kIo, "write " + path);
  return Status::ok();
}

}  // namespace

Result<TestCerts> makeTestCerts(const std::string& dir) {
  TestCerts certs;
  certs.ca_file = dir + "/ca.pem";
  certs.ca_key_file = dir + "/ca.key";
  certs.certificate_file = dir + "/server.pem";
  certs.private_key_file = dir + "/server.key";
  const std::string csr = dir + "/server.csr";
  const std::string ext = dir + "/server.ext";
  const std::string log = dir + "/openssl.log";

  RETURN_IF_ERROR(writeFile(ext,
                            "basicConstraints = critical, CA:FALSE\n"
                            "keyUsage = critical, digitalSignature, keyEncipherment\n"
                            "extendedKeyUsage = serverAuth\n"
                            "subjectAltName = IP:127.0.0.1, IP:::1, DNS:localhost\n"));
  // EC P-256 keys: fast to generate, accepted by every TLS version the tests use.
  RETURN_IF_ERROR(run({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                       "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", certs.ca_key_file,
                       "-out", certs.ca_file, "-days", "2", "-subj", "/CN=tandem test CA",
                       "-addext", "basicConstraints=critical,CA:TRUE", "-addext",
                       "keyUsage=critical,keyCertSign,cRLSign"},
                      log));
  RETURN_IF_ERROR(run({"openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
                       "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                       certs.private_key_file, "-out", csr, "-subj", "/CN=127.0.0.1"},
                      log));
  RETURN_IF_ERROR(run({"openssl", "x509", "-req", "-in", csr, "-CA", certs.ca_file, "-CAkey",
                       certs.ca_key_file, "-CAcreateserial", "-out", certs.certificate_file,
                       "-days", "2", "-extfile", ext},
                      log));
  return certs;
}

}  // namespace tandem::testing
