// Which git checkout a directory belongs to, and the main worktree of its
// repository: how `seedfs mount` finds <root> and <ws> when they are not given.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace seedfs::git {

struct Checkout {
  std::filesystem::path top;         // the working tree's top dir
  std::filesystem::path prefix;      // the dir asked about, relative to `top` ("" at the top)
  std::filesystem::path git_dir;     // this worktree's own git dir
  std::filesystem::path common_dir;  // the repository's, shared by all its worktrees
  // A worktree made by `git worktree add` (its git dir is not the repository's).
  bool linked() const { return git_dir != common_dir; }
};

// The checkout holding `dir`; nullopt, with `why`, when it is in none (or in a bare repository).
std::optional<Checkout> checkout_of(const std::filesystem::path& dir, std::string& why);

// The top dir of the repository's main worktree (the first `git worktree
// list` names, asked in `c.top`, which may be any dir of the repository);
// nullopt, with `why`, for a bare repository, which has none.
std::optional<std::filesystem::path> main_worktree(const Checkout& c, std::string& why);

// Every worktree of the repository whose dir exists, the main worktree first
// (none for a bare repository's); nullopt, with `why`, when git cannot say.
std::optional<std::vector<std::filesystem::path>> worktrees(const Checkout& c, std::string& why);

}  // namespace seedfs::git
