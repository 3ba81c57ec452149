// How far apart two worktrees of one repository are, in tracked files: what
// picks the donor of a new worktree (cli/donor.hpp). The worktree whose build
// matches the most of the new one's sources leaves cargo the least to compile.
#pragma once

#include <filesystem>
#include <string>
#include <unordered_map>
#include <unordered_set>

namespace seedfs::git {

struct TrackedFiles {
  std::unordered_map<std::string, std::string> blobs;  // path -> blob id (the index's)
  std::unordered_set<std::string> edited;              // working file differs from the index
  std::string why;                                     // empty, or why git could not say
};

// `git ls-files -s` and `git status` of the worktree at `top` (read only: no
// optional locks, nothing in it is rewritten).
TrackedFiles tracked_files(const std::filesystem::path& top);

// Paths whose content differs between a donor and a new worktree: another
// blob, in one index only, or edited (not committed) in the donor, whose
// build is of its working files.
size_t files_differing(const TrackedFiles& donor, const TrackedFiles& ws);

}  // namespace seedfs::git
