// The donor: which worktree a new linked worktree is seeded from when no
// <root> is given. Among the repository's worktrees with a build of their own
// that is neither a live seedfs view nor being built right now, the one whose
// tracked files differ least from the new worktree's (ties: the main
// worktree), so that cargo has the least to compile there. The main worktree
// being built no longer refuses the mount while another can give.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <toml++/toml.h>

#include "cli/paths.hpp"

namespace seedfs::cli {

struct DonorChoice {
  struct Candidate {
    stdfs::path worktree;
    size_t differ = 0;    // tracked files that differ from the new worktree
    std::string skipped;  // why it cannot give ("being built", ...); empty if it can
  };
  stdfs::path root;  // the chosen worktree
  size_t differ = 0;
  std::vector<Candidate> candidates;  // every other worktree, the main one first
  // "12 tracked files differ; main: 240, being built"
  std::string why() const;
  // {"root", "why", "differ", "candidates": [{"worktree", "differ" | "skipped"}]}, for --json and status.
  toml::table table() const;
};

// "donor: /p/feature-3 (12 tracked files differ; main: 240, being built)"
std::string donor_line(const toml::table& donor);

// For `p` as find_projects made it with no <root> (the main worktree as the
// root, in a linked worktree): picks the donor and makes it `p.root`. Nothing
// to choose (the main worktree is the only other one) leaves `p` as it is and
// `out` empty. Refuses with kBusy when every worktree with a build is being
// built.
std::optional<CliError> choose_donor(const config::Config& cfg, Projects& p, std::optional<DonorChoice>& out);

}  // namespace seedfs::cli
