#include "tandem/drbd/capability.h"

namespace tandem::drbd {

std::string parseProcDrbdVersion(std::string_view text) {
  size_t at = text.find("version: ");
  if (at == std::string_view::npos) return "";
  at += 9;
  size_t end = at;
  while (end < text.size() && text[end] != ' ' && text[end] != '\n') ++end;
  return std::string(text.substr(at, end - at));
}

std::string drbdadmVersionField(std::string_view output, std::string_view key) {
  size_t pos = 0;
  while (pos < output.size()) {
    size_t eol = output.find('\n', pos);
    std::string_view line = output.substr(pos, eol == std::string_view::npos ? std::string_view::npos : eol - pos);
    if (line.size() > key.size() && line.substr(0, key.size()) == key && line[key.size()] == '=') {
      return std::string(line.substr(key.size() + 1));
    }
    if (eol == std::string_view::npos) break;
    pos = eol + 1;
  }
  return "";
}

DrbdUtils probeDrbdUtils(devices::CommandRunner& runner) {
  DrbdUtils utils;
  auto out = runner.run({"drbdadm", "--version"});
  if (!out.isOk()) {
    utils.failure = "drbd-utils is not installed: " + out.status().message();
  } else if (out->exit_code != 0) {
    utils.failure = "drbdadm --version failed (exit " + std::to_string(out->exit_code) + ")";
  } else {
    utils.utils_version = drbdadmVersionField(out->stdout_text, "DRBDADM_VERSION");
    std::string kernel = drbdadmVersionField(out->stdout_text, "DRBD_KERNEL_VERSION");
    if (kernel != "0") utils.kernel_version = kernel;
    if (utils.utils_version.empty()) utils.failure = "drbdadm --version shows no DRBDADM_VERSION";
  }
  return utils;
}

DrbdCapability assessDrbd(const DrbdUtils& utils, const std::optional<std::string>& proc_drbd) {
  DrbdCapability cap;
  cap.utils_version = utils.utils_version;
  cap.kernel_version = utils.kernel_version;
  if (proc_drbd) {
    std::string v = parseProcDrbdVersion(*proc_drbd);
    if (!v.empty()) cap.kernel_version = v;
  }
  if (cap.kernel_version.empty()) {
    cap.missing = proc_drbd ? "the DRBD kernel module reports no version in /proc/drbd"
                            : "the DRBD 9 kernel module is not loaded (/proc/drbd is missing)";
  } else if (cap.kernel_version.rfind("9.", 0) != 0) {
    cap.missing = "the loaded DRBD kernel module is " + cap.kernel_version + ", not 9.x";
  } else if (cap.utils_version.empty()) {
    cap.missing = utils.failure.empty() ? "drbd-utils is not installed" : utils.failure;
  }
  return cap;
}

DrbdCapability probeDrbd(devices::CommandRunner& runner, const std::optional<std::string>& proc_drbd) {
  return assessDrbd(probeDrbdUtils(runner), proc_drbd);
}

nodeapi::DrbdCapabilityReport capabilityReport(const DrbdCapability& capability) {
  nodeapi::DrbdCapabilityReport r;
  r.loaded = capability.usable();
  r.version = capability.kernel_version;
  r.reason = capability.missing;
  return r;
}

}  // namespace tandem::drbd
