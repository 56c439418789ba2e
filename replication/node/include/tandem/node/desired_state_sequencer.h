// DesiredStateSequencer: what a node's next desired-state poll asks for, and the full state an
// answer makes (nodeapi DesiredState: full or delta, desired_delta.h). It keeps the last state
// the node applied and asks for a delta after it — except for the first poll, after an answer
// that could not be applied (the reconciler failed, or a delta that does not fit), and every
// `full_every`-th poll (a safety net: a change the controller failed to scope is repaired then),
// which ask for the full state. Pure (no I/O); not thread-safe (the poll thread owns it).
#pragma once

#include <cstdint>
#include <optional>

#include "tandem/common/status.h"
#include "tandem/nodeapi/messages.h"

namespace tandem::node {

class DesiredStateSequencer {
 public:
  // `full_every`: every so many polls one asks for the full state (1: all do; 0 counts as 1).
  explicit DesiredStateSequencer(uint32_t full_every) : full_every_(full_every == 0 ? 1 : full_every) {}

  struct Poll {
    uint64_t after = 0;  // the generation of the state the node has (0: none, answer at once)
    bool delta = false;  // ask for a delta after it
  };
  Poll next() const;
  // The full state the answer to next() makes: `answer` itself, or a delta applied to the state
  // the poll was made after. kProtocol when a delta does not apply (then the next poll asks for
  // the full state).
  Result<nodeapi::DesiredState> received(const nodeapi::DesiredState& answer);
  // The node applied `state` (what received() returned): the next poll asks after it. A full
  // answer (asked for or not) restarts the count towards the next periodic full state.
  void applied(nodeapi::DesiredState state);
  // Applying failed: the next poll asks for the full state at once.
  void failed() { base_.reset(); }

 private:
  const uint32_t full_every_;
  std::optional<nodeapi::DesiredState> base_;  // the state last applied
  uint32_t since_full_ = 0;                    // deltas applied since the last full state
  bool received_full_ = true;                  // the last answer received() was a full state
};

}  // namespace tandem::node
