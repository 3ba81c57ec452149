// Source mtimes for cargo: a new worktree's files all carry the time of the
// checkout, newer than every fingerprint in the root's target/, so cargo would
// recompile every workspace crate even where nothing differs. Cargo keeps no
// absolute workspace path in a path package's fingerprint, and judges it
// fresh when no file of its dep-info is newer than the dep-info itself; so a
// workspace file whose content is the root's (the same blob in both indexes,
// and the root's working file clean) may carry the root file's mtime, and the
// root's artifacts are then exactly as fresh in the workspace as in the root.
// A file whose content differs keeps its new mtime: cargo must see the change.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "git/checkout.hpp"
#include "git/command.hpp"

namespace seedfs::git {

struct MtimeSync {
  uint64_t tracked = 0;      // regular files tracked under the workspace's project dir
  uint64_t identical = 0;    // the same content as the root's file at that path
  uint64_t changed = 0;      // of those, given the root's mtime (the others had it already)
  uint64_t differ = 0;       // other content, or not in the root: left as checked out
  uint64_t uncommitted = 0;  // edited but not committed on either side: left alone
  double seconds = 0;        // all of it, the git commands included
  std::string skipped;       // why nothing was done (e.g. not a git checkout); empty if done
  std::string warning;       // done, but with a problem worth saying (the index refresh failed)
};

// What git says of the sources of both checkouts: each index, and what
// differs from it in the root. Reading it changes nothing, so it may run
// while other checks are still to refuse the command.
class SourceIndex {
 public:
  // Asks git in both checkouts, in parallel (the checkouts, where the caller
  // knows them already). `dry_run`: the workspace's own edits too, which
  // apply() otherwise learns from the index refresh.
  static SourceIndex read(const std::filesystem::path& root_project, const std::filesystem::path& ws_project,
                          bool dry_run, std::optional<Checkout> root = {}, std::optional<Checkout> ws = {});

  // Gives every file under the workspace's project dir whose content is that
  // of the same path in the root (the same blob, clean in both) the root
  // file's mtime, then refreshes the workspace's index so that `git status`
  // there stays cheap; a file edited in the workspace, which the refresh
  // finds, gets its own mtime back. For a workspace with no artifacts of its
  // own yet. `dry_run` counts only. Touches nothing in the root (git is
  // asked without optional locks).
  MtimeSync apply(bool dry_run) const;

  // Why nothing can be done (not a git checkout, ...); empty if it can.
  const std::string& skipped() const { return skipped_; }

 private:
  std::optional<Checkout> root_, ws_;
  Output root_files_, root_status_, ws_files_, ws_status_;
  std::string skipped_;
  double seconds_ = 0;
};

// read() then apply(): both checkouts must be git checkouts with the project
// at the same place in the repository.
MtimeSync sync_mtimes(const std::filesystem::path& root_project, const std::filesystem::path& ws_project,
                      bool dry_run = false);

}  // namespace seedfs::git
