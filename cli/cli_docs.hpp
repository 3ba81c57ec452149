// The shell completions and the man page of seedfs, generated from its own
// CLI11 App (cli_def.cpp) by walking its subcommands and options, so that
// they never drift from the command line. `seedfs completions bash|zsh|fish`
// and `seedfs manpage` print them; the build installs them.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <string_view>

namespace seedfs::cli {

// The completion script for `shell` (bash, zsh or fish); "" for another.
std::string completion_script(const CLI::App& app, std::string_view shell);

// seedfs(1) in roff (man macros).
std::string man_page(const CLI::App& app);

}  // namespace seedfs::cli
