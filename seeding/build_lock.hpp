// Is a build running in the root right now? cargo holds an exclusive flock on
// target/<profile>/.cargo-lock (newer versions also on .cargo-build-lock and
// .cargo-artifact-lock) for the whole build. Seeding while it writes would
// copy half-written files, so seedfs refuses unless --force.
#pragma once

#include <optional>
#include <string>

namespace seedfs::seeding {

// The path (relative to the artifact dir) of a lock file that a running build
// holds, looking at most two levels down (target/debug, target/<triple>/debug).
// Probing takes a shared, non-blocking flock and releases it at once; it never
// writes or creates anything.
std::optional<std::string> held_build_lock(int artifact_dir_fd);

}  // namespace seedfs::seeding
