// The workspace's sources before its artifacts are seeded: in a new git
// worktree, files identical to the root's get the root's mtimes, so that
// cargo finds the workspace's own crates as fresh as in the root
// (git/mtimes.hpp says why that is sound).
#pragma once

#include <future>
#include <string>
#include <vector>

#include <toml++/toml.h>

#include "cli/paths.hpp"
#include "git/mtimes.hpp"

namespace seedfs::cli {

// Starts asking git about both checkouts' sources, when `enabled` (else an
// invalid future): it changes nothing, so it runs while cargo is asked where
// the artifact dirs are and the other checks are made.
std::future<git::SourceIndex> read_sources(const Projects& p, bool enabled, bool dry_run);

// Syncs the mtimes when `index` is valid and every workspace artifact dir is
// still absent or empty. A workspace whose target/ has content keeps its
// mtimes: its own build there may come from sources other than the root's, and
// a backdated file would hide that from cargo. Never fails the command: what
// it skipped and why is in the result.
git::MtimeSync prepare_sources(std::future<git::SourceIndex> index, const std::vector<ArtifactDirs>& dirs,
                               bool dry_run);

// "sources: 812 of 830 tracked files given the root's mtimes (18 differ) in 21 ms"
std::string sources_line(const git::MtimeSync& s, bool dry_run = false);
toml::table sources_table(const git::MtimeSync& s);
git::MtimeSync sources_from(const toml::table& t);  // the inverse, for `status`

}  // namespace seedfs::cli
