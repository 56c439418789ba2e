#include <algorithm>

#include "tandem/drbd/resource_spec.h"

namespace tandem::drbd {
namespace {

// A word safe inside double quotes in a DRBD config file.
Status checkWord(const std::string& what, const std::string& value) {
  if (value.empty()) return Status(ErrorCode::kInvalidArgument, "DRBD " + what + " is empty");
  for (unsigned char c : value) {
    if (c <= ' ' || c == '"' || c == '\\' || c == ';' || c == '{' || c == '}' || c == 0x7f) {
      return Status(ErrorCode::kInvalidArgument, "DRBD " + what + " '" + value + "' has a character a .res file cannot hold");
    }
  }
  return Status::ok();
}

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

std::string addressLine(const DrbdHost& h) {
  if (h.address.find(':') != std::string::npos) {
    return "address ipv6 [" + h.address + "]:" + std::to_string(h.port) + ";";
  }
  return "address ipv4 " + h.address + ":" + std::to_string(h.port) + ";";
}

}  // namespace

bool hasQuorum(const DrbdResourceSpec& spec) { return spec.hosts.size() >= 3; }

Result<std::string> renderResource(const DrbdResourceSpec& spec) {
  RETURN_IF_ERROR(checkWord("resource name", spec.resource));
  RETURN_IF_ERROR(checkWord("shared secret of " + spec.resource, spec.shared_secret));
  if (spec.hosts.empty()) return Status(ErrorCode::kInvalidArgument, "DRBD resource " + spec.resource + " has no hosts");
  if (spec.max_peers < 1 || spec.max_peers > 31) {
    return Status(ErrorCode::kInvalidArgument, "DRBD max-peers " + std::to_string(spec.max_peers) + " is outside 1..31");
  }
  for (const auto& h : spec.hosts) {
    RETURN_IF_ERROR(checkWord("host name", h.name));
    RETURN_IF_ERROR(checkWord("address of " + h.name, h.address));
    if (!h.backing_device.empty()) RETURN_IF_ERROR(checkWord("backing device of " + h.name, h.backing_device));
    if (h.port == 0 || h.port > 65535) {
      return Status(ErrorCode::kInvalidArgument, "DRBD port " + std::to_string(h.port) + " of " + h.name + " is outside 1..65535");
    }
  }
  std::string out;
  out += "# Written by Tandem for volume " + spec.resource + "; do not edit (it is rewritten).\n";
  out += "resource " + quoted(spec.resource) + " {\n";
  out += "  options {\n    auto-promote yes;\n";
  if (hasQuorum(spec)) out += "    quorum majority;\n    on-no-quorum io-error;\n";
  out += "  }\n";
  out += "  net {\n    protocol C;\n    cram-hmac-alg sha256;\n    shared-secret " + quoted(spec.shared_secret) + ";\n  }\n";
  for (const auto& h : spec.hosts) {
    out += "  on " + quoted(h.name) + " {\n";
    out += "    node-id " + std::to_string(h.node_id) + ";\n";
    out += "    " + addressLine(h) + "\n";
    out += "    volume 0 {\n";
    out += "      device minor " + std::to_string(spec.minor) + ";\n";
    if (h.backing_device.empty()) {
      out += "      disk none;\n";
    } else {
      out += "      disk " + quoted(h.backing_device) + ";\n";
      out += "      meta-disk internal;\n";
    }
    out += "    }\n  }\n";
  }
  out += "  connection-mesh {\n    hosts";
  for (const auto& h : spec.hosts) out += " " + quoted(h.name);
  out += ";\n  }\n}\n";
  return out;
}

}  // namespace tandem::drbd
