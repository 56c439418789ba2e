#include "tandem/node/desired_state_sequencer.h"

#include "tandem/nodeapi/desired_delta.h"

namespace tandem::node {

DesiredStateSequencer::Poll DesiredStateSequencer::next() const {
  if (!base_) return {};
  return {base_->generation, since_full_ + 1 < full_every_};
}

Result<nodeapi::DesiredState> DesiredStateSequencer::received(const nodeapi::DesiredState& answer) {
  received_full_ = !answer.delta;
  if (!answer.delta) return answer;
  if (!base_) {
    return Status(ErrorCode::kProtocol, "a desired-state delta answered a poll that asked for the full state");
  }
  auto full = nodeapi::applyDesiredDelta(*base_, answer);
  if (!full.isOk()) base_.reset();
  return full;
}

void DesiredStateSequencer::applied(nodeapi::DesiredState state) {
  since_full_ = received_full_ ? 0 : since_full_ + 1;
  base_ = std::move(state);
}

}  // namespace tandem::node
