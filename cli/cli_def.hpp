// The command line of seedfs: every subcommand and option (CLI11), bound to
// the argument structs of commands.hpp. main.cpp parses with it; the hidden
// `seedfs completions` and `seedfs manpage` walk the same App, so the shell
// completions and the man page never drift from it.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <memory>

#include "cli/commands.hpp"

namespace seedfs::cli {

// What the command line fills in. Each subcommand's callback sets `run` to the
// command it names; main runs it after a successful parse.
struct CliArgs {
  SeedArgs seed;
  ConfigArgs config;
  MountArgs mount;
  bool keep_mounted = false, no_keep_mounted = false;  // see mount in cli_def.cpp
  StatusArgs status;
  WorkspaceArgs wait, unmount;
  VerifyArgs verify;
  HookArgs hook;
  DuArgs du;
  DoctorArgs doctor;
  GcArgs gc;
  // The hidden generators.
  std::string shell;                                 // completions <shell>
  std::optional<std::filesystem::path> doc_output;   // --output
  std::function<int()> run;
};

// The whole CLI. `args` must outlive the App.
std::unique_ptr<CLI::App> make_cli(CliArgs& args);

// "seedfs 0.1.0 (git 1a2b3c4d, 2026-12-07)", "-dirty" after the commit when
// the tree had changes, "(unknown commit)" when not built from a git checkout.
std::string version_line();

// Built at build time from git by cmake/version.cmake (a generated .cpp).
struct BuildVersion {
  const char* version;  // project version, e.g. "0.1.0"
  const char* commit;   // abbreviated hash, "-dirty" appended; "" outside git
  const char* date;     // the commit's date, YYYY-MM-DD; "" outside git
};
BuildVersion build_version();

}  // namespace seedfs::cli
