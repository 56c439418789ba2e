#include "tandem/cli/app.h"

#include <chrono>
#include <ostream>

#include "tandem/cli/args.h"
#include "tandem/cli/command.h"
#include "tandem/cli/render.h"
#include "tandem/cli/volume_pages.h"
#include "tandem/cli/volume_transfer.h"
#include "tandem/json/writer.h"

namespace tandem::cli {
namespace {

constexpr std::chrono::seconds kRequestTimeout{30};

ExitCode usageError(std::ostream& err, const std::string& message) {
  err << "error: " << message << "\n"
      << "usage: tandem [global flags] COMMAND (see tandem --help)\n";
  return ExitCode::kUsage;
}

// volume export|import: many ranged requests with a progress bar, then one summary.
ExitCode runTransfer(const Command& cmd, bool json, ApiTransport& api, const CliContext& context, std::ostream& out,
                     std::ostream& err) {
  const Clock& clock = context.clock ? *context.clock : RealClock::instance();
  std::unique_ptr<TransferProgress> bar;
  if (cmd.progress || (context.err_is_terminal && !json)) bar = makeProgressBar(err, clock);
  TransferRequest request{cmd.name, cmd.file, cmd.offset, cmd.target_is_zero};
  const bool exporting = cmd.kind == CommandKind::kVolumeExport;
  auto report = exporting ? exportVolume(api, request, bar.get(), clock) : importVolume(api, request, bar.get(), clock);
  if (!report.isOk()) {
    if (bar) bar->finish();
    err << "error: " << report.status().message() << "\n";
    ErrorCode code = report.status().code();
    return code == ErrorCode::kUnavailable || code == ErrorCode::kTimeout ? ExitCode::kConnection : ExitCode::kApiError;
  }
  if (json) {
    json::JsonWriter w;
    w.beginObject();
    w.key("volume").string(cmd.name);
    w.key("file").string(cmd.file);
    w.key("direction").string(exporting ? "export" : "import");
    w.key("size_bytes").uint64(report->size_bytes);
    w.key("offset").uint64(report->offset);
    w.key("bytes").uint64(report->bytes);
    w.key("zero_bytes").uint64(report->zero_bytes);
    w.key("seconds").number(report->seconds);
    w.endObject();
    out << w.str() << "\n";
    return ExitCode::kOk;
  }
  // The data itself may be on stdout (FILE "-"): the summary then goes to stderr.
  std::ostream& summary = cmd.file == "-" && exporting ? err : out;
  summary << (exporting ? "exported " : "imported ") << report->bytes << " bytes "
          << (exporting ? "of volume '" + cmd.name + "' to " : "into volume '" + cmd.name + "' from ")
          << (cmd.file == "-" ? (exporting ? std::string("stdout") : std::string("stdin")) : cmd.file);
  if (report->offset > 0) summary << " from offset " << report->offset;
  if (report->zero_bytes > 0) {
    summary << " (" << report->zero_bytes << (exporting ? " zero bytes left as holes)" : " zero bytes not sent)");
  }
  summary << "\n";
  return ExitCode::kOk;
}

}  // namespace

ExitCode runCli(const std::vector<std::string>& args, const CliContext& context, std::ostream& out,
                std::ostream& err) {
  auto parsed = parseArgs(args);
  if (!parsed.isOk()) return usageError(err, parsed.status().message());
  if (parsed->help) {
    out << usageText();
    return ExitCode::kOk;
  }
  auto command = parseCommand(*parsed);
  if (!command.isOk()) return usageError(err, command.status().message());
  auto settings = resolveSettings(*parsed, context.env, context.read_file);
  if (!settings.isOk()) return usageError(err, settings.status().message());

  auto transport = context.connect ? context.connect(*settings)
                                   : makeHttpsTransport(*settings, kRequestTimeout);
  if (!transport.isOk()) return usageError(err, transport.status().message());

  if (command->kind == CommandKind::kVolumeExport || command->kind == CommandKind::kVolumeImport) {
    return runTransfer(*command, parsed->json, **transport, context, out, err);
  }
  ApiCall call = apiCallFor(*command);
  auto response = command->kind == CommandKind::kVolumeList ? listAllVolumes(**transport)
                                                            : (*transport)->call(call.method, call.target, call.body);
  if (!response.isOk() && response.status().code() == ErrorCode::kProtocol) {
    err << "error: " << response.status().message() << "\n";
    return ExitCode::kApiError;
  }
  if (!response.isOk()) {
    err << "error: cannot reach the controller at " << settings->url << ": "
        << response.status().message() << "\n";
    return ExitCode::kConnection;
  }
  if (response->status < 200 || response->status > 299) {
    err << renderApiError(response->status, response->body) << "\n";
    return ExitCode::kApiError;
  }
  if (parsed->json) {
    if (!response->body.empty()) {
      out << response->body;
      if (response->body.back() != '\n') out << "\n";
    }
    return ExitCode::kOk;
  }
  auto text = renderSuccess(*command, response->status, response->body);
  if (!text.isOk()) {
    err << "error: " << text.status().message() << "\n";
    return ExitCode::kApiError;
  }
  out << *text;
  return ExitCode::kOk;
}

}  // namespace tandem::cli
