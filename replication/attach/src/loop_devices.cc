#include "loop_devices.h"

#include <rapidjson/document.h>

namespace tandem::attach {

Result<std::vector<LoopDevice>> parseLosetupJson(std::string_view json) {
  std::vector<LoopDevice> out;
  if (json.find_first_not_of(" \t\r\n") == std::string_view::npos) return out;
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("loopdevices") ||
      !doc["loopdevices"].IsArray()) {
    return Status(ErrorCode::kProtocol, "losetup --json: unexpected output");
  }
  for (const auto& d : doc["loopdevices"].GetArray()) {
    if (!d.IsObject() || !d.HasMember("name") || !d["name"].IsString()) continue;
    LoopDevice loop;
    loop.device = d["name"].GetString();
    if (d.HasMember("back-file") && d["back-file"].IsString()) loop.backing_file = d["back-file"].GetString();
    constexpr std::string_view kDeleted = " (deleted)";
    if (loop.backing_file.ends_with(kDeleted))
      loop.backing_file.resize(loop.backing_file.size() - kDeleted.size());
    if (d.HasMember("dio") && d["dio"].IsBool()) loop.direct_io = d["dio"].GetBool();
    out.push_back(std::move(loop));
  }
  return out;
}

Result<std::vector<LoopDevice>> listLoopDevices(devices::CommandRunner& runner) {
  ASSIGN_OR_RETURN(auto out, devices::runChecked(
                                 runner, {"losetup", "--list", "--json", "--output", "NAME,BACK-FILE,DIO"}));
  return parseLosetupJson(out.stdout_text);
}

Result<std::string> attachLoopDevice(devices::CommandRunner& runner, const std::string& file,
                                     bool direct_io) {
  std::vector<std::string> argv = {"losetup", "--find", "--show"};
  if (direct_io) argv.push_back("--direct-io=on");
  argv.push_back(file);
  auto out = devices::runChecked(runner, argv);
  if (!out.isOk() && direct_io) return attachLoopDevice(runner, file, false);
  if (!out.isOk()) return out.status();
  std::string device = out->stdout_text.substr(0, out->stdout_text.find('\n'));
  if (!device.starts_with("/dev/loop")) {
    return Status(ErrorCode::kProtocol, "losetup --show printed no device: " + out->stdout_text);
  }
  return device;
}

Status detachLoopDevice(devices::CommandRunner& runner, const std::string& device) {
  auto out = devices::runChecked(runner, {"losetup", "--detach", device});
  return out.status();
}

}  // namespace tandem::attach
