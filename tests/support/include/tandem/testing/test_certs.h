// Throw-away TLS material for tests: a fresh CA and a server certificate signed by it, valid
// for 127.0.0.1, ::1 and localhost, made with the `openssl` command-line tool (no certificate
// is ever embedded in source). Each call makes a new, unrelated CA, so two calls give a
// "wrong CA" for certificate-verification tests. Thread-compatible (use separate dirs).
#pragma once

#include <string>

#include "tandem/common/status.h"

namespace tandem::testing {

struct TestCerts {
  std::string ca_file;           // <dir>/ca.pem: the CA certificate to trust
  std::string ca_key_file;       // <dir>/ca.key
  std::string certificate_file;  // <dir>/server.pem: the server certificate (CN 127.0.0.1)
  std::string private_key_file;  // <dir>/server.key
};

// Writes the files into `dir` (which must exist). Fails with kInternal and openssl's output
// when a command fails (e.g. the openssl binary is missing).
Result<TestCerts> makeTestCerts(const std::string& dir);

}  // namespace tandem::testing
