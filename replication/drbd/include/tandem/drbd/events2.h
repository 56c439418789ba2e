// The line format of `drbdsetup events2 --now --statistics` and the typed state it describes.
//
// A line is `[<timestamp> ]<verb> <object> key:value key:value ...` with verb exists, create,
// change, destroy, call or response, and object resource, device, connection, peer-device, path
// or helper; `exists -` ends the initial dump of --now. A value written `old->new` (some drbd
// versions in change lines) counts as `new`. parseEvents2Line is pure and total: every input gives
// an event or a kProtocol error naming what was wrong (fuzzed).
//
// Events2State folds events into the state of every resource the stream mentions. Unknown keys
// and unknown states are kept as text (DRBD adds fields between versions); only the fields Tandem
// reports are typed. Thread-safety: values; not synchronised.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "tandem/common/status.h"

namespace tandem::drbd {

enum class EventVerb { kExists, kCreate, kChange, kDestroy, kCall, kResponse };
enum class EventObject { kResource, kDevice, kConnection, kPeerDevice, kPath, kHelper, kEndOfDump };

struct Events2Event {
  EventVerb verb = EventVerb::kExists;
  EventObject object = EventObject::kEndOfDump;
  std::map<std::string, std::string> fields;  // key -> value (the new value for `old->new`)
  bool operator==(const Events2Event&) const = default;
};

Result<Events2Event> parseEvents2Line(std::string_view line);

struct DrbdDeviceState {
  uint32_t minor = 0;
  std::string disk;          // UpToDate, Inconsistent, Outdated, Diskless, Failed, ...
  bool client = false;       // a diskless client (client:yes)
  bool quorum = true;        // quorum:no when the device lost quorum
  uint64_t size_kib = 0;     // statistics: size (KiB)
  // statistics: requests from above (upper-pending) and to the backing disk (lower-pending) not
  // yet completed
  uint64_t upper_pending = 0;
  uint64_t lower_pending = 0;
  bool operator==(const DrbdDeviceState&) const = default;
};

struct DrbdPeerState {
  std::string conn_name;     // the peer's host name
  std::string connection;    // Connected, Connecting, StandAlone, Disconnecting, ...
  std::string role;          // the peer's role
  std::string replication;   // volume 0: Established, SyncSource, SyncTarget, Off, ...
  std::string peer_disk;     // volume 0: the peer's disk state
  std::optional<double> done_percent;  // volume 0 during a resync (done:)
  uint64_t out_of_sync_kib = 0;        // statistics
  // statistics, volume 0: requests sent to the peer awaiting its answer (pending:) and requests
  // from the peer not yet answered here (unacked:)
  uint64_t pending = 0;
  uint64_t unacked = 0;
  uint64_t ap_in_flight = 0;  // statistics of the connection: application writes in flight to it
  bool path_established = false;
  bool split_brain = false;  // a split-brain helper was called for this connection
  bool operator==(const DrbdPeerState&) const = default;
};

struct DrbdResourceState {
  std::string role;  // Primary, Secondary, Unknown
  bool suspended = false;  // I/O suspended, for any reason (suspend-io: `suspended:user`)
  std::map<uint32_t, DrbdDeviceState> devices;  // by volume number
  std::map<uint32_t, DrbdPeerState> peers;      // by peer-node-id
  bool operator==(const DrbdResourceState&) const = default;
};

class Events2State {
 public:
  // Folds one event in. kProtocol for an event missing the keys its object needs (name,
  // peer-node-id, volume) or with a malformed number; the state is then unchanged.
  Status apply(const Events2Event& event);
  bool initialDumpDone() const { return initial_dump_done_; }
  const std::map<std::string, DrbdResourceState>& resources() const { return resources_; }
  const DrbdResourceState* resource(const std::string& name) const;

 private:
  bool initial_dump_done_ = false;
  std::map<std::string, DrbdResourceState> resources_;
};

// The state one run of `drbdsetup events2 --now --statistics [<resource>]` printed (`text`, one
// event per line; blank lines skipped): every line folded in. kProtocol naming the first line
// that does not parse or apply, or when the dump does not end with `exists -` (cut short).
Result<Events2State> foldEvents2Dump(std::string_view text);

// What the resource still has in flight on volume 0, towards or from its peers or its backing
// disk, by its events2 statistics: "" when every counter is 0 (the device's upper-pending and
// lower-pending, each peer's pending, unacked and ap-in-flight), else the non-zero ones
// ("peer n2: pending:1"). Peers in any connection state count (a stale count keeps it
// undrained: the safe side).
std::string inFlight(const DrbdResourceState& resource);

std::string_view eventVerbName(EventVerb verb);
std::string_view eventObjectName(EventObject object);

}  // namespace tandem::drbd
