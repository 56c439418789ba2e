#include "tandem/drbd/lifecycle.h"

#include <algorithm>

namespace tandem::drbd {
namespace {

const DrbdHost* findHost(const DrbdResourceSpec& spec, const std::string& name) {
  for (const auto& h : spec.hosts) {
    if (h.name == name) return &h;
  }
  return nullptr;
}

Status notInSpec(const DrbdResourceSpec& spec, const std::string& name) {
  return Status(ErrorCode::kInvalidArgument, "host '" + name + "' is not in DRBD resource " + spec.resource);
}

}  // namespace

Status checkInitialSyncSkippable(const InitialSyncFacts& f) {
  auto refuse = [](const std::string& why) {
    return Status(ErrorCode::kConflict, "the initial sync cannot be skipped: " + why).withReason("initial_sync_required");
  };
  if (!f.backing_fresh_thin) return refuse("a backing device is not a fresh thin volume (it may hold old data)");
  if (!f.metadata_just_created) return refuse("a host's DRBD metadata has a history (not just created)");
  if (f.ever_primary) return refuse("the resource has been primary (data may have been written)");
  if (f.diskful == 0 || f.diskful_connected < f.diskful) {
    return refuse(std::to_string(f.diskful - std::min(f.diskful, f.diskful_connected)) + " of " +
                  std::to_string(f.diskful) + " diskful hosts are not connected");
  }
  return Status::ok();
}

Result<devices::CommandOutput> DrbdLifecycle::tool(const std::string& program, std::vector<std::string> args) {
  std::vector<std::string> argv{program};
  argv.insert(argv.end(), args.begin(), args.end());
  return devices::runChecked(runner_, argv);
}

Result<devices::CommandOutput> DrbdLifecycle::drbdadm(std::vector<std::string> args) {
  std::vector<std::string> pre;
  if (!options_.config_path.empty()) pre = {"-c", options_.config_path};
  if (!options_.dry_run_as_host.empty()) pre.push_back("-d");
  args.insert(args.begin(), pre.begin(), pre.end());
  if (options_.dry_run_as_host.empty()) return tool(options_.drbdadm, std::move(args));
  return devices::runChecked(runner_, drbdadmAs(options_.dry_run_as_host, options_.drbdadm, "9.0.0", std::move(args),
                                                  options_.dry_run_env));
}

std::vector<std::string> DrbdLifecycle::drbdmetaArgs(uint32_t minor, const std::string& backing,
                                                     std::vector<std::string> command) const {
  std::vector<std::string> args{"--force", std::to_string(minor), "v09", backing, "internal"};
  args.insert(args.end(), command.begin(), command.end());
  return args;
}

Status DrbdLifecycle::create(const DrbdResourceSpec& spec, const std::string& self) {
  const DrbdHost* me = findHost(spec, self);
  if (!me) return notInSpec(spec, self);
  RETURN_IF_ERROR(writer_.write(spec).status());
  if (!me->backing_device.empty()) {
    RETURN_IF_ERROR(tool(options_.drbdmeta, drbdmetaArgs(spec.minor, me->backing_device,
                                                         {"create-md", std::to_string(spec.max_peers)}))
                        .status());
  }
  return adjust(spec.resource);
}

Status DrbdLifecycle::adjust(const std::string& resource) { return drbdadm({"adjust", resource}).status(); }

Status DrbdLifecycle::skipInitialSync(const std::string& resource, const InitialSyncFacts& facts) {
  RETURN_IF_ERROR(checkInitialSyncSkippable(facts));
  return drbdadm({"new-current-uuid", "--clear-bitmap", resource + "/0"}).status();
}

Status DrbdLifecycle::promote(const std::string& resource, bool force) {
  if (force) return drbdadm({"primary", "--force", resource}).status();
  return drbdadm({"primary", resource}).status();
}

Status DrbdLifecycle::demote(const std::string& resource) { return drbdadm({"secondary", resource}).status(); }

Status DrbdLifecycle::resize(const std::string& resource) { return drbdadm({"resize", resource + "/0"}).status(); }

Status DrbdLifecycle::addPeer(const DrbdResourceSpec& spec) {
  RETURN_IF_ERROR(writer_.write(spec).status());
  return adjust(spec.resource);
}

Status DrbdLifecycle::removePeer(const DrbdResourceSpec& old_spec, const std::string& peer) {
  if (!findHost(old_spec, peer)) return notInSpec(old_spec, peer);
  const std::string target = old_spec.resource + ":" + peer;
  RETURN_IF_ERROR(drbdadm({"disconnect", target}).status());
  RETURN_IF_ERROR(drbdadm({"del-peer", target}).status());
  RETURN_IF_ERROR(drbdadm({"forget-peer", target}).status());
  DrbdResourceSpec next = old_spec;
  next.hosts.erase(std::remove_if(next.hosts.begin(), next.hosts.end(),
                                  [&](const DrbdHost& h) { return h.name == peer; }),
                   next.hosts.end());
  RETURN_IF_ERROR(writer_.write(next).status());
  return adjust(next.resource);
}

Status DrbdLifecycle::remove(const DrbdResourceSpec& spec, const std::string& self) {
  const DrbdHost* me = findHost(spec, self);
  if (!me) return notInSpec(spec, self);
  RETURN_IF_ERROR(drbdadm({"down", spec.resource}).status());
  if (!me->backing_device.empty()) {
    RETURN_IF_ERROR(tool(options_.drbdmeta, drbdmetaArgs(spec.minor, me->backing_device, {"wipe-md"})).status());
  }
  return writer_.remove(spec.resource);
}

Result<DrbdResourceState> DrbdLifecycle::currentState(const std::string& resource) {
  ASSIGN_OR_RETURN(devices::CommandOutput out,
                   tool(options_.drbdsetup, {"events2", "--now", "--statistics", resource}));
  ASSIGN_OR_RETURN(Events2State state, foldEvents2Dump(out.stdout_text));
  const DrbdResourceState* r = state.resource(resource);
  if (r == nullptr) {
    return Status(ErrorCode::kNotFound, "drbdsetup events2 --now shows no resource " + resource);
  }
  return *r;
}

Status DrbdLifecycle::suspendIo(uint32_t minor) {
  return tool(options_.drbdsetup, {"suspend-io", std::to_string(minor)}).status();
}

Status DrbdLifecycle::resumeIo(uint32_t minor) {
  return tool(options_.drbdsetup, {"resume-io", std::to_string(minor)}).status();
}

Status DrbdLifecycle::snapshotWithSuspendedIo(uint32_t minor, const std::function<Status()>& take_snapshot) {
  RETURN_IF_ERROR(suspendIo(minor));
  Status taken = take_snapshot();
  Status resumed = resumeIo(minor);
  RETURN_IF_ERROR(taken);
  return resumed;
}

Result<bool> DrbdLifecycle::metadataJustCreated(uint32_t minor, const std::string& backing_device) {
  ASSIGN_OR_RETURN(devices::CommandOutput out,
                   tool(options_.drbdmeta, drbdmetaArgs(minor, backing_device, {"get-gi", "--node-id=0"})));
  // get-gi prints "<current>:<bitmap>:<history1>:<history2>:<flags...>"; the just-created
  // current UUID is 4 (UUID_JUST_CREATED) with no bitmap or history UUIDs.
  const std::string& text = out.stdout_text;
  return text.rfind("0000000000000004:0000000000000000:0000000000000000:0000000000000000:", 0) == 0;
}

}  // namespace tandem::drbd
