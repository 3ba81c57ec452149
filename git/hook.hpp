// The post-checkout hook that starts seedfs for every new linked worktree:
// git runs post-checkout at the end of `git worktree add` (with the null
// commit as the old HEAD), and the hook runs `seedfs mount` there, which
// returns once the view is live. It never fails the checkout: its exit
// status is that of the hook it chains, if any (git makes it its own).
#pragma once

#include <filesystem>
#include <string>
#include <system_error>

#include "git/checkout.hpp"

namespace seedfs::git {

// The repository's hooks dir (core.hooksPath if set), for any of its worktrees.
std::filesystem::path hooks_dir(const Checkout& c, std::string& why);

struct HookChange {
  std::filesystem::path hook;     // <hooks>/post-checkout
  std::filesystem::path chained;  // where a hook that was there before now is (empty if none)
  bool updated = false;           // ours was there already: rewritten (e.g. a new seedfs path)
};

// Writes the hook, calling `seedfs_binary`. A post-checkout hook of someone
// else's is kept, moved beside it as post-checkout.seedfs-chained, and run
// first with the same arguments.
std::error_code install_hook(const Checkout& c, const std::filesystem::path& seedfs_binary, HookChange& out,
                             std::string& why);

// Removes our hook and puts back the one it chained. ENOENT (with `why`)
// when ours is not installed.
std::error_code uninstall_hook(const Checkout& c, HookChange& out, std::string& why);

// Whether the hook at `p` is ours.
bool is_our_hook(const std::filesystem::path& p);

}  // namespace seedfs::git
