// NodeAgent: the node worker's control loop. Registers with the controller (again after a
// restart, keeping the identity stored in its state directory), long-polls its desired state
// and hands it to the Reconciler, and reports status (the heartbeat) every interval and right
// after each change: deltas against the last acknowledged report, a full one periodically and
// whenever the controller asks (ReportSequencer). A report the controller refuses (413, 400, 5xx)
// is logged as an error with the reason and followed by a liveness heartbeat carrying that
// reason, so the controller keeps the node online (and shows why) instead of taking it for lost.
//
// The agent alone owns the node's cluster id (in its NodeIdentity): adopted at the first
// registration, then checked against every desired state. A desired state from another cluster
// (a lost or reset controller database) is never applied, so it can neither create nor delete.
// Thread-safety: start() once, stop() once (idempotent); runs two threads in between.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "tandem/node/controller_client.h"
#include "tandem/node/identity.h"
#include "tandem/node/reconciler.h"
#include "tandem/node/desired_state_sequencer.h"
#include "tandem/node/report_sequencer.h"

namespace tandem::node {

struct NodeAgentOptions {
  std::string name;
  std::string address;              // advertised host for NBD and replication
  uint16_t nbd_port = 0;
  uint16_t replication_port = 0;
  std::map<std::string, std::string> labels;  // placement labels sent at registration
  std::string state_dir;            // holds the identity file
  std::chrono::seconds poll_wait{25};
  std::chrono::milliseconds heartbeat_interval{2000};
  // Status reports are deltas against the last one the controller acknowledged; every so many
  // reports one is full (ReportSequencer). 1: every report is full.
  uint32_t full_report_every = 30;
  // Desired-state polls ask for a delta after the state last applied; every so many polls one
  // asks for the full state (DesiredStateSequencer). 1: every poll asks for the full state.
  uint32_t full_desired_every = 100;
};

class NodeAgent {
 public:
  // `identity` is what loadIdentity() read from the state directory (empty for a new node).
  NodeAgent(NodeAgentOptions options, NodeIdentity identity, ControllerClient& client, Reconciler& reconciler);
  ~NodeAgent();
  void start();
  // Stops both loops. The poll thread may sit in a long-poll for up to poll_wait: with
  // `wait_for_poll` false it is detached instead of joined (for a process about to exit).
  void stop(bool wait_for_poll = true);

 private:
  void pollLoop();
  void heartbeatLoop();
  // Sends one report (and, if it is refused, a liveness heartbeat). True when the controller
  // asks for a full report at once.
  bool reportOnce();
  Status registerOnce();
  // Applies `desired` if it comes from this node's cluster; kConflict (and nothing done) if not.
  Status applyDesired(const DesiredState& desired);
  bool waitFor(std::chrono::milliseconds d);  // a back-off; false when stopping

  NodeAgentOptions options_;
  ControllerClient& client_;
  Reconciler& reconciler_;
  NodeIdentity identity_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool registered_ = false;
  bool report_now_ = false;
  std::thread poll_thread_;
  std::thread heartbeat_thread_;
  ReportSequencer sequencer_;  // used by the heartbeat thread only
  DesiredStateSequencer desired_;  // used by the poll thread only
};

}  // namespace tandem::node
