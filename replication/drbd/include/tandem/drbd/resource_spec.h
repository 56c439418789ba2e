// The typed description of one DRBD resource (one Tandem volume) and its rendering as a .res file.
//
// One resource has one volume (volume 0) with the same minor on every host. Each host is a DRBD
// node: diskful when it has a backing device, diskless otherwise (a client that attaches the
// volume, or the tie-breaker a two-replica volume needs for quorum). Thread-safety: values.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tandem/common/status.h"

namespace tandem::drbd {

struct DrbdHost {
  std::string name;            // the host's name as DRBD sees it (uname -n)
  std::string address;         // IPv4 or IPv6 address peers reach it at
  uint32_t port = 0;           // the resource's TCP port on this host
  uint32_t node_id = 0;        // 0..31
  std::string backing_device;  // "": diskless (client or tie-breaker)
  bool operator==(const DrbdHost&) const = default;
};

struct DrbdResourceSpec {
  std::string resource;       // the resource name (the volume's name)
  uint32_t minor = 0;         // /dev/drbd<minor> on every host
  std::vector<DrbdHost> hosts;
  std::string shared_secret;  // per volume; peers authenticate with cram-hmac-alg sha256
  uint32_t max_peers = 7;     // peer slots in the metadata (spare slots let peers be added later)
  bool operator==(const DrbdResourceSpec&) const = default;
};

// Voters are every host (diskless tie-breakers vote too). With 3 or more, the resource runs
// `quorum majority` + `on-no-quorum io-error`; with fewer, quorum is off (a two-replica volume
// needs a diskless tie-breaker host to get quorum).
bool hasQuorum(const DrbdResourceSpec& spec);

// The .res text: `on` sections (node-id, address, device minor, disk or `disk none`, meta-disk
// internal), connection-mesh, protocol C, auto-promote, quorum as above, shared-secret with
// cram-hmac-alg sha256. Deterministic (hosts in the given order), so an unchanged spec renders
// byte-for-byte the same file. kInvalidArgument only for what cannot be written safely: empty
// names, characters that would break the file's syntax (quotes, backslashes, whitespace, control
// characters), no hosts, a port of 0 or above 65535, max_peers outside 1..31. Everything DRBD
// itself checks (duplicate node-ids, ports, minors) is left to `drbdadm` (config_writer.h), so
// its message is what an operator reads.
Result<std::string> renderResource(const DrbdResourceSpec& spec);

}  // namespace tandem::drbd
