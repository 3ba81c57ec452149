// T0 for `seedfs mount` and `seedfs seed` (seeding/instant.hpp): the instant
// whose root each workspace artifact dir sees. A workspace dir seeded before
// keeps the T0 recorded in the state dir (a resumed mount, a rerun of seed);
// a new one gets T0 = now, taken while seedfs holds the root's cargo locks
// shared, so that no build in the root is half-way at T0.
#pragma once

#include <optional>
#include <vector>

#include "cli/exit_codes.hpp"
#include "cli/paths.hpp"
#include "cli/state.hpp"
#include "seeding/instant.hpp"

namespace seedfs::cli {

struct ArtifactT0 {
  seeding::Instant t0;
  bool resumed = false;  // recorded by an earlier run on this workspace dir
};

// T0 of each of `dirs`, in order. A new T0 is refused (kBusy) while a build
// holds a root's cargo lock, unless `force`; with `record`, the workspace
// dirs are created (empty, with the root dir's mode) and the new T0 recorded
// before anything else touches the workspace. Without it (a dry run) nothing
// is written.
// With `record`, the state dir also gets the workspace's record (cli/state.hpp:
// `ws_project` and the dirs), for `seedfs gc`.
std::optional<CliError> establish_t0(const std::vector<ArtifactDirs>& dirs, const StatePaths& state,
                                     const stdfs::path& ws_project, bool force, bool record,
                                     std::vector<ArtifactT0>& out);

}  // namespace seedfs::cli
