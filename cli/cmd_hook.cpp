// `seedfs hook install|uninstall [repo]`: the post-checkout hook that runs
// `seedfs mount` in every new linked worktree (git/hook.hpp).
#include <spdlog/spdlog.h>

#include <iostream>

#include "cli/commands.hpp"
#include "cli/exit_codes.hpp"
#include "cli/output.hpp"
#include "git/hook.hpp"

namespace seedfs::cli {
namespace {

// This binary, for the hook to call (it runs with git's PATH, not the user's shell's).
std::filesystem::path own_binary() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::filesystem::path("seedfs") : p;
}

}  // namespace

int cmd_hook(const HookArgs& args) {
  std::error_code ec;
  std::filesystem::path dir = args.repo ? *args.repo : std::filesystem::current_path(ec);
  std::string why;
  auto checkout = git::checkout_of(dir, why);
  if (!checkout) return spdlog::error("{}: give a dir of the repository whose worktrees seedfs should seed", why), kBadInput;
  git::HookChange change;
  ec = args.install ? git::install_hook(*checkout, own_binary(), change, why)
                    : git::uninstall_hook(*checkout, change, why);
  if (ec == std::errc::no_such_file_or_directory && !args.install) {
    // Nothing to uninstall: already as asked.
    if (args.common.json)
      std::cout << to_json(toml::table{{"ok", true}, {"installed", false}, {"hook", change.hook.string()},
                                       {"note", why}})
                << "\n";
    else
      std::cout << why << ": nothing to do\n";
    return kOk;
  }
  if (ec) {
    if (args.common.json)
      std::cout << to_json(toml::table{{"ok", false}, {"hook", change.hook.string()}, {"error", why}}) << "\n";
    spdlog::error("{}", why);
    return kFailed;
  }
  if (args.common.json) {
    std::cout << to_json(toml::table{{"ok", true},
                                     {"installed", args.install},
                                     {"hook", change.hook.string()},
                                     {"updated", change.updated},
                                     {"chained", change.chained.string()}})
              << "\n";
    return kOk;
  }
  if (args.install) {
    std::cout << (change.updated ? "updated " : "installed ") << change.hook.string() << "\n";
    if (!change.chained.empty())
      std::cout << "  the hook that was there runs first: " << change.chained.string() << "\n";
    std::string none;
    auto main = git::main_worktree(*checkout, none);
    std::cout << "  every `git worktree add` in this repository now runs `seedfs mount` in the new "
                 "worktree, from the main worktree " << (main ? main->string() : "(none: " + none + ")")
              << "\n  skip it once: SEEDFS_NO_HOOK=1 git worktree add ...; remove it: seedfs hook uninstall\n";
  } else {
    std::cout << "removed " << change.hook.string() << "\n";
    if (!change.chained.empty()) std::cout << "  put back the hook it chained\n";
  }
  return kOk;
}

}  // namespace seedfs::cli
