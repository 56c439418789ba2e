// The commands of `tandem`, validated from ParsedArgs, and the REST call each one makes.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tandem/cli/args.h"
#include "tandem/common/status.h"

namespace tandem::cli {

enum class CommandKind {
  kNodeList,
  kNodeDelete,
  kNodeEvacuate,
  kPoolList,
  kGroupCreate,
  kGroupList,
  kGroupShow,
  kGroupDelete,
  kVolumeCreate,
  kVolumeList,
  kVolumeShow,
  kVolumeDelete,
  kVolumePromote,
  kVolumeGrow,
  kVolumeClone,
  kSnapshotCreate,
  kSnapshotList,
  kSnapshotDelete,
  kSnapshotRevert,
  kVolumeAttach,
  kVolumeDetach,
  kVolumeAttachments,
  kVolumeResolve,
  kVolumeAdopt,
  kVolumeForget,
  kVolumeUpdate,
  kLibvirtPoolXml,
  kLibvirtDiskXml,
  kVolumeExport,
  kVolumeImport,
  kVersion,
};

struct Command {
  CommandKind kind = CommandKind::kVersion;
  std::string name;            // the group or volume named by show/create/delete (snapshot: its volume)
  std::string snapshot;        // snapshot create/delete; volume clone --snapshot
  std::string source;          // volume clone --from VOLUME
  int replicas = 0;            // group create; volume update (0: unchanged)
  std::string engine = "native";
  bool thin = true;
  std::vector<std::string> pools;      // group create --pools a,b (empty: any pool)
  std::vector<std::string> spread_by;  // group create --spread-by zone,rack (replicas_on_different)
  std::optional<double> overprovision; // group create --overprovision R (thin groups)
  std::string quorum;                  // group create --quorum off|majority (empty: the default)
  std::map<std::string, double> weights;  // group create --weights free_space=W,... (placement_weights)
  uint64_t size_bytes = 0;     // volume create, volume grow; volume update (0: unchanged)
  std::string group;           // volume create, adopt; volume update (empty: unchanged)
  bool multiattach = false;    // group create --multiattach (allow_multiattach)
  std::string node;            // volume promote --node, volume resolve --keep
  bool force = false;          // volume promote --force, volume detach --force
  bool cancel = false;         // node evacuate --cancel
  std::string host;            // volume attach|detach --host
  std::string mode = "block";  // volume attach --mode block|nbd
  std::string pool;            // volume adopt --pool
  std::string backing;         // volume adopt --backing (the pool's volume name)
  bool dry_run = false;        // volume adopt --dry-run, volume create --dry-run
  std::string mount;           // libvirt pool-xml --mount DIR
  std::string libvirt_pool;    // libvirt pool-xml --name, disk-xml --pool (default tandem-<group>)
  std::string target = "vdb";  // libvirt disk-xml --target DEV
  bool nbd = false;            // libvirt disk-xml --nbd
  std::string file;            // volume export|import FILE ("-": stdout/stdin)
  uint64_t offset = 0;         // volume export|import --offset BYTES (resume)
  bool progress = false;       // volume export|import --progress (a bar even when stderr is no terminal)
  bool target_is_zero = false; // volume import --target-is-zero (do not send zero chunks)
};

// Validates the words and options: known command, right number of arguments, required options
// present, options that belong to the command, names matching [A-Za-z0-9][A-Za-z0-9_.-]{0,63},
// --replicas an integer 1-8, --pools/--spread-by comma-separated names, --overprovision a number
// from 1 to 1000, --weights comma-separated KEY=W (KEY free_space, provisioned or
// replica_count, W a number from 0 to 1000), --size a size (size.h). Fails with kInvalidArgument (a usage
// error) whose message says what is wrong.
Result<Command> parseCommand(const ParsedArgs& args);

struct ApiCall {
  std::string method;  // "GET", "POST", "PATCH", "DELETE"
  std::string target;  // "/v1/volumes/v1"
  std::string body;    // JSON, or empty
};

// The REST request for a command (creates carry a JSON body built with RapidJSON). Volume
// export/import make many (volume_transfer.h): their ApiCall is the first, GET of the volume.
ApiCall apiCallFor(const Command& command);

// The usage text printed by --help and after usage errors.
std::string usageText();

}  // namespace tandem::cli
