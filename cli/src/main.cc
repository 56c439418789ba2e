// `tandem`: the operator's command-line client of the controller's REST API.
#include <unistd.h>

#include <iostream>
#include <string>
#include <vector>

#include "tandem/cli/app.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  tandem::cli::CliContext context;
  context.err_is_terminal = ::isatty(STDERR_FILENO) == 1;
  return static_cast<int>(tandem::cli::runCli(args, context, std::cout, std::cerr));
}
