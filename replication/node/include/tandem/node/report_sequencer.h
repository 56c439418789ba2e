// ReportSequencer: which status report a node sends next (nodeapi StatusReport: full or delta).
// It numbers the reports, keeps the last full report the controller acknowledged, and sends a
// delta against it — except for the first report, after any report that was not acknowledged
// (refused, lost, or answered send_full: the controller restarted or missed one), and every
// `full_every`-th report, which are full. Pure (no I/O); not thread-safe (the heartbeat thread
// owns it).
#pragma once

#include <cstdint>

#include "tandem/nodeapi/messages.h"

namespace tandem::node {

class ReportSequencer {
 public:
  // `full_every`: every so many reports one is full (1: all are full; 0 counts as 1).
  explicit ReportSequencer(uint32_t full_every) : full_every_(full_every == 0 ? 1 : full_every) {}

  // The report to send now for the node's full report `current`: numbered, and a delta unless a
  // full one is due. Each call supersedes the previous one's pending acknowledgement.
  nodeapi::StatusReport next(const nodeapi::StatusReport& current);
  // The controller's answer to the last report next() returned.
  void acknowledged(const nodeapi::StatusAck& ack);
  // The last report was not applied as far as the node knows: the next one is full.
  void failed() { acked_seq_ = 0; }
  // Whether the next report will be full.
  bool fullDue() const { return acked_seq_ == 0 || since_full_ + 1 >= full_every_; }

 private:
  const uint32_t full_every_;
  uint64_t seq_ = 0;
  uint64_t acked_seq_ = 0;          // 0: the controller holds no base of ours
  nodeapi::StatusReport acked_;     // the full report acknowledged as acked_seq_
  uint64_t pending_seq_ = 0;        // the report in flight and its full form
  nodeapi::StatusReport pending_;
  uint32_t since_full_ = 0;         // deltas sent since the last full report
};

}  // namespace tandem::node
