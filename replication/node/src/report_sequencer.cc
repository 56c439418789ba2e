#include "tandem/node/report_sequencer.h"

#include "tandem/nodeapi/report_delta.h"

namespace tandem::node {

nodeapi::StatusReport ReportSequencer::next(const nodeapi::StatusReport& current) {
  const bool full = fullDue();
  nodeapi::StatusReport out = full ? current : nodeapi::reportDelta(acked_, current);
  out.report_seq = ++seq_;
  out.base_seq = full ? 0 : acked_seq_;
  if (full) out.removed_replicas.clear();
  since_full_ = full ? 0 : since_full_ + 1;
  pending_seq_ = seq_;
  pending_ = current;
  pending_.report_seq = seq_;
  pending_.base_seq = 0;
  pending_.removed_replicas.clear();
  return out;
}

void ReportSequencer::acknowledged(const nodeapi::StatusAck& ack) {
  if (ack.send_full || ack.acknowledged == 0 || ack.acknowledged != pending_seq_) {
    acked_seq_ = 0;  // an older controller (no acknowledgements), or it holds no base of ours
    return;
  }
  acked_seq_ = pending_seq_;
  acked_ = std::move(pending_);
  pending_ = nodeapi::StatusReport{};
}

}  // namespace tandem::node
