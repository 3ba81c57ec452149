// Is a build running in the root right now? cargo holds an exclusive flock on
// target/<profile>/.cargo-lock (newer versions also on .cargo-build-lock and
// .cargo-artifact-lock) for the whole build.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "seeding/sys.hpp"

namespace seedfs::seeding {

// Shared flocks on the cargo lock files of an artifact dir (at most two
// levels down: target/debug, target/<triple>/debug). While they are held no
// build there can run or start: seedfs takes T0 inside them, so that no
// build was half-way at T0 (seeding/instant.hpp). Taking them never writes or
// creates anything; a build that wants its lock waits for their release.
class BuildLocks {
 public:
  // Takes every one without waiting. On a lock a build holds, takes none and
  // returns its path (relative to the artifact dir).
  std::optional<std::string> acquire(int artifact_dir_fd);
  void release() { fds_.clear(); }
  // The lock files there are now, held or not (a build that starts creates its own).
  static size_t count(int artifact_dir_fd);
  size_t held() const { return fds_.size(); }

 private:
  std::vector<sys::UniqueFd> fds_;
};

// The path of a lock file that a running build holds, if any (a probe: each
// shared lock is released at once).
std::optional<std::string> held_build_lock(int artifact_dir_fd);

}  // namespace seedfs::seeding
