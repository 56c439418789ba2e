#include "tandem/node/node_agent.h"

#include "tandem/common/log.h"

namespace tandem::node {

NodeAgent::NodeAgent(NodeAgentOptions options, NodeIdentity identity, ControllerClient& client,
                     Reconciler& reconciler)
    : options_(std::move(options)),
      client_(client),
      reconciler_(reconciler),
      identity_(std::move(identity)),
      sequencer_(options_.full_report_every),
      desired_(options_.full_desired_every) {
  identity_.name = options_.name;
}

NodeAgent::~NodeAgent() { stop(); }

void NodeAgent::start() {
  poll_thread_ = std::thread([this] { pollLoop(); });
  heartbeat_thread_ = std::thread([this] { heartbeatLoop(); });
}

void NodeAgent::stop(bool wait_for_poll) {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  // A pending long-poll returns within poll_wait; the controller answers it at the latest then.
  if (poll_thread_.joinable()) {
    if (wait_for_poll) poll_thread_.join();
    else poll_thread_.detach();
  }
  if (heartbeat_thread_.joinable()) heartbeat_thread_.join();
}

bool NodeAgent::waitFor(std::chrono::milliseconds d) {
  // Only stopping cuts a back-off short: other wake-ups of cv_ (report_now_) must not turn a
  // retry loop into a busy loop against the controller.
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, d, [&] { return stopping_; });
  return !stopping_;
}

Status NodeAgent::registerOnce() {
  nodeapi::Registration registration;
  registration.name = options_.name;
  registration.uuid = identity_.uuid;
  registration.address = options_.address;
  registration.nbd_port = options_.nbd_port;
  registration.replication_port = options_.replication_port;
  registration.labels = options_.labels;
  registration.pools = reconciler_.pools();
  ASSIGN_OR_RETURN(nodeapi::RegistrationReply reg, client_.registerNode(registration));
  if (!identity_.cluster_id.empty() && reg.cluster_id != identity_.cluster_id) {
    log::warn("node", "controller reports cluster " + reg.cluster_id + ", this node belongs to " +
                          identity_.cluster_id + ": its desired state will be ignored");
  }
  bool changed = identity_.uuid != reg.node_uuid || identity_.cluster_id.empty();
  identity_.uuid = reg.node_uuid;
  if (identity_.cluster_id.empty()) identity_.cluster_id = reg.cluster_id;
  if (changed) {
    // Without the identity on disk a restart would register as a new node: do not go on.
    RETURN_IF_ERROR(saveIdentity(options_.state_dir, identity_));
  }
  log::info("node", "registered as " + options_.name + " (" + identity_.uuid + ")");
  std::lock_guard lock(mu_);
  registered_ = true;
  return Status::ok();
}

Status NodeAgent::applyDesired(const DesiredState& desired) {
  if (desired.cluster_id != identity_.cluster_id) {
    // A different (or reset) controller: change nothing, and above all delete nothing.
    Status s(ErrorCode::kConflict, "desired state is from cluster " + desired.cluster_id +
                                       " but this node belongs to " + identity_.cluster_id + ": ignoring it");
    log::error("reconcile", s.message());
    return s;
  }
  return reconciler_.apply(desired);
}

void NodeAgent::pollLoop() {
  while (true) {
    bool registered;
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      registered = registered_;
    }
    if (!registered) {
      Status s = registerOnce();
      if (!s.isOk()) {
        log::warn("node", "registration failed (will retry): " + s.toString());
        if (!waitFor(std::chrono::seconds(1))) return;
        continue;
      }
      cv_.notify_all();
    }
    const DesiredStateSequencer::Poll poll = desired_.next();
    auto answer = client_.pollDesired(options_.name, poll.after, options_.poll_wait, poll.delta);
    // A delta becomes the full state it describes (kProtocol when it does not apply: the next
    // poll asks for the full state).
    auto desired = answer.isOk() ? desired_.received(*answer) : answer;
    if (!desired.isOk() && desired.status().code() == ErrorCode::kProtocol) {
      log::error("node", "bad desired state from controller: " + desired.status().toString());
      if (!waitFor(std::chrono::seconds(2))) return;
      continue;
    }
    if (!desired.isOk()) {
      if (desired.status().code() == ErrorCode::kUnauthenticated || desired.status().code() == ErrorCode::kNotFound) {
        std::lock_guard lock(mu_);
        registered_ = false;
      }
      log::warn("node", "desired-state poll failed (will retry): " + desired.status().toString());
      if (!waitFor(std::chrono::seconds(1))) return;
      continue;
    }
    Status applied = applyDesired(*desired);
    {
      std::lock_guard lock(mu_);
      report_now_ = true;
    }
    cv_.notify_all();
    if (applied.isOk()) {
      desired_.applied(std::move(desired).value());
    } else {
      // Retry the full state after a pause (after=0 returns the current state at once).
      desired_.failed();
      if (!waitFor(std::chrono::seconds(2))) return;
    }
  }
}

void NodeAgent::heartbeatLoop() {
  while (true) {
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, options_.heartbeat_interval, [&] { return stopping_ || report_now_; });
      if (stopping_) return;
      report_now_ = false;
      if (!registered_) continue;
    }
    if (reportOnce()) {
      std::lock_guard lock(mu_);
      report_now_ = true;
    }
  }
}

bool NodeAgent::reportOnce() {
  const nodeapi::StatusReport current = reconciler_.report();
  const nodeapi::StatusReport report = sequencer_.next(current);
  auto ack = client_.reportStatus(options_.name, report);
  if (ack.isOk()) {
    sequencer_.acknowledged(*ack);
    return ack->send_full;
  }
  sequencer_.failed();
  const Status& s = ack.status();
  if (s.code() == ErrorCode::kUnauthenticated || s.code() == ErrorCode::kNotFound) {
    log::warn("node", "status report failed: " + s.toString());
    std::lock_guard lock(mu_);
    registered_ = false;
    return false;
  }
  if (s.reason() != "body_too_large" && s.reason() != "report_refused") {
    log::warn("node", "status report failed: " + s.toString());  // no answer: nothing to tell the controller
    return false;
  }
  log::error("node", "STATUS REPORT REFUSED (" + std::string(report.base_seq == 0 ? "full" : "delta") + ", " +
                         std::to_string(current.replicas.size()) + " replicas): " + s.toString() +
                         "; sending a liveness heartbeat so the controller keeps this node online");
  nodeapi::StatusReport live;
  live.liveness_only = true;
  live.report_error = s.message().substr(0, 1000);
  auto alive = client_.reportStatus(options_.name, live);
  if (!alive.isOk()) log::error("node", "the liveness heartbeat failed too: " + alive.status().toString());
  return false;
}

}  // namespace tandem::node
