// The steps of a resource-group change that moves the primary (PATCH /v1/volumes/{v}
// {resource_group} whose group does not allow the primary's replica). replica_layout.h has
// marked the replicas the new group excludes `leaving` (the primary's among them) and placed the
// new ones; this pure function says what the controller's tick() does next for such a volume,
// given its declared replicas and attachments and the observed state:
//
//   1. while the primary's replica is leaving: wait until the primary (online, serving, up to
//      date) counts every replica that stays up to date and each of them reports its own copy up
//      to date without error; then hand the primary over (attachments.h's planned handover,
//      `volumes.handover_to`) to one of them: a host the volume is attached on first (its I/O
//      becomes local), else the first by node name;
//   2. during the handover: wait (the facade completes it, completeHandoversLocked);
//   3. once the primary is on a replica that stays: wait until it serves and counts every other
//      replica that stays up to date, then delete every leaving replica.
//
// Nothing is lost on the way: a leaving replica goes only after the new primary and every
// staying replica hold the data; the primary moves only to an up-to-date copy.
#pragma once

#include <string>
#include <vector>

#include "tandem/controller/observed_state.h"
#include "tandem/controller/records.h"

namespace tandem::controller {

enum class RegroupAction {
  kNone,           // no replica of the volume is leaving
  kWait,           // `reason` says for what
  kHandOver,       // start the planned handover to `target`
  kRemoveLeaving,  // delete the replicas on `remove` (none of them is the primary)
};

struct RegroupStep {
  RegroupAction action = RegroupAction::kNone;
  std::string target;
  std::vector<std::string> remove;
  std::string reason;
};

RegroupStep planRegroupStep(const VolumeRecord& volume, const std::vector<ReplicaRecord>& replicas,
                            const std::vector<AttachmentRecord>& attachments, const ObservedState& observed);

}  // namespace tandem::controller
