#include "tandem/node/identity.h"

#include <cerrno>
#include <fstream>

#include "tandem/node/atomic_file.h"

namespace tandem::node {

Result<NodeIdentity> loadIdentity(const std::string& state_dir) {
  NodeIdentity identity;
  std::string path = state_dir + "/identity";
  std::ifstream in(path);
  if (!in) {
    if (errno == ENOENT) return identity;
    return Status::fromErrno(errno, "read " + path);
  }
  std::string line;
  while (std::getline(in, line)) {
    auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string key = line.substr(0, eq), value = line.substr(eq + 1);
    if (key == "name") identity.name = value;
    if (key == "uuid") identity.uuid = value;
    if (key == "cluster_id") identity.cluster_id = value;
  }
  return identity;
}

Status saveIdentity(const std::string& state_dir, const NodeIdentity& identity) {
  std::string text = "name=" + identity.name + "\nuuid=" + identity.uuid + "\ncluster_id=" + identity.cluster_id + "\n";
  return writeFileAtomically(state_dir, "identity", text);
}

}  // namespace tandem::node
