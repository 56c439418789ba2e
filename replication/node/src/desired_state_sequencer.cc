#include "tandem/node/desired_state_sequencer.h"

#include "tandem/nodeapi/desired_delta.h"

namespace tandem::node {

DesiredStateSequencer::Poll DesiredStateSequencer::next() const {
  if (!base_) return {};
  return {base_->generation, since_full_ + 1 < full_every_};
}

Result<nodeapi::DesiredState> DesiredStateSequencer::received(const nodeapi::DesiredState& answer) {
  if (!answer.delta) return answer;
  if (!base_) {
    return Status(ErrorCode::kProtocol, "a desired-state delta answered a poll that asked for the full state");
  }
  auto full = nodeapi::applyDesiredDelta(*base_, answer);
  if (!full.isOk()) base_.reset();
  return full;
}

void DesiredStateSequencer::applied(nodeapi::DesiredState state) {
  // A poll that asked for the full state restarts the count (whatever the answer's form).
  since_full_ = next().delta ? since_full_ + 1 : 0;
  base_ = std::move(state);
}

}  // namespace tandem::node
