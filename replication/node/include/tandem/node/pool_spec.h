// Pool specifications of a node worker, as given on its command line or config file:
//   NAME=file:DIRECTORY            a directory of sparse files
//   NAME=lvm-thin:VG/THINPOOL      an LVM thin pool
//   NAME=zfs:ZPOOL[/DATASET]       ZFS volumes under a pool or dataset
#pragma once

#include <string>
#include <string_view>

#include "tandem/common/status.h"
#include "tandem/devices/provider_factory.h"

namespace tandem::node {

struct PoolSpec {
  std::string name;
  devices::PoolConfig config;
};

// kInvalidArgument with the offending text and the expected form.
Result<PoolSpec> parsePoolSpec(std::string_view text);

}  // namespace tandem::node
