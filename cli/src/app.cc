#include "tandem/cli/app.h"

#include <chrono>
#include <ostream>

#include "tandem/cli/args.h"
#include "tandem/cli/command.h"
#include "tandem/cli/render.h"

namespace tandem::cli {
namespace {

constexpr std::chrono::seconds kRequestTimeout{30};

ExitCode usageError(std::ostream& err, const std::string& message) {
  err << "error: " << message << "\n"
      << "usage: tandem [global flags] COMMAND (see tandem --help)\n";
  return ExitCode::kUsage;
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

  ApiCall call = apiCallFor(*command);
  auto response = (*transport)->call(call.method, call.target, call.body);
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
