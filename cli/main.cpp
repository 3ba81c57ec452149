// seedfs: make a root checkout's build artifacts usable in a new workspace at once.
// The command line is defined in cli_def.cpp; this parses it and runs the command.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>

#include "cli/cli_def.hpp"
#include "cli/exit_codes.hpp"

int main(int argc, char** argv) {
  using namespace seedfs::cli;
  auto console = spdlog::stderr_color_mt("seedfs");
  console->set_pattern("%^%v%$");
  spdlog::set_default_logger(console);

  CliArgs args;
  auto app = make_cli(args);
  try {
    app->parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app->exit(e);
    return rc == 0 ? kOk : kUsage;
  }
  // tests/docs_check.py: every command the docs show must parse, and none may run.
  if (const char* check = std::getenv("SEEDFS_CHECK_ARGS"); check && *check == '1') {
    std::puts("seedfs: arguments ok");
    return kOk;
  }
  return args.run ? args.run() : kUsage;
}
