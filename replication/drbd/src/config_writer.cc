#include "tandem/drbd/config_writer.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "tandem/drbd/durable_file.h"

namespace tandem::drbd {

std::vector<std::string> drbdadmAs(const std::string& host, const std::string& drbdadm,
                                   const std::string& driver_version_override, std::vector<std::string> args,
                                   const std::vector<std::string>& extra_env) {
  std::vector<std::string> argv{"env", "__DRBD_NODE__=" + host,
                                "DRBD_DRIVER_VERSION_OVERRIDE=" + driver_version_override};
  argv.insert(argv.end(), extra_env.begin(), extra_env.end());
  argv.push_back(drbdadm);
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

std::string ConfigWriter::livePath(const std::string& resource) const {
  return options_.res_dir + "/" + resource + ".res";
}

Status ConfigWriter::ensureConfig() {
  if (::mkdir(options_.res_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return Status(ErrorCode::kIo, "mkdir " + options_.res_dir + ": " + std::strerror(errno));
  }
  const std::string text = "# Written by Tandem: every DRBD resource it manages on this host.\ninclude \"" +
                           options_.res_dir + "/*.res\";\n";
  ASSIGN_OR_RETURN(auto current, readFileIfExists(options_.config_path));
  if (current && *current == text) return Status::ok();
  const std::string tmp = options_.config_path + ".tmp";
  RETURN_IF_ERROR(writeFileSynced(tmp, text));
  return renameSynced(tmp, options_.config_path);
}

Status ConfigWriter::validateFile(const DrbdResourceSpec& spec, const std::string& candidate) {
  ASSIGN_OR_RETURN(auto live, readFileIfExists(livePath(spec.resource)));
  for (const auto& host : spec.hosts) {
    std::vector<std::string> args{"-c", options_.config_path, "-t", candidate};
    if (live) {
      args.push_back("-E");
      args.push_back(livePath(spec.resource));
    }
    args.push_back("sh-nop");
    auto argv = drbdadmAs(host.name, options_.drbdadm, options_.driver_version_override, args);
    ASSIGN_OR_RETURN(devices::CommandOutput out, runner_.run(argv));
    if (out.exit_code != 0) {
      return devices::commandFailed(ErrorCode::kInvalidArgument, argv, out)
          .withContext("drbdadm refused the configuration of " + spec.resource + " acting as host " + host.name);
    }
  }
  return Status::ok();
}

Result<bool> ConfigWriter::write(const DrbdResourceSpec& spec) {
  ASSIGN_OR_RETURN(std::string text, renderResource(spec));
  const std::string live = livePath(spec.resource);
  ASSIGN_OR_RETURN(auto current, readFileIfExists(live));
  if (current && *current == text) return false;
  const std::string tmp = options_.res_dir + "/." + spec.resource + ".res.tmp";
  RETURN_IF_ERROR(writeFileSynced(tmp, text));
  Status valid = validateFile(spec, tmp);
  if (!valid.isOk()) {
    (void)removeFileSynced(tmp);
    return valid;
  }
  RETURN_IF_ERROR(renameSynced(tmp, live));
  return true;
}

Status ConfigWriter::remove(const std::string& resource) { return removeFileSynced(livePath(resource)); }

}  // namespace tandem::drbd
