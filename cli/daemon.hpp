// The background process behind `seedfs mount`: mounts the view of every
// artifact, reports readiness through a pipe, materializes, answers the
// control socket, logs progress, and exits once every mount is gone.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "cli/paths.hpp"
#include "cli/state.hpp"
#include "cli/t0.hpp"
#include "config/config.hpp"
#include "git/mtimes.hpp"

namespace seedfs::cli {

struct DaemonPlan {
  Projects projects;
  config::Config config;
  std::vector<ArtifactDirs> artifacts;
  std::vector<ArtifactT0> t0;  // of each artifact
  StatePaths state;
  git::MtimeSync sources;  // what was done to the workspace's sources before mounting
  std::optional<toml::table> donor;  // how the root was chosen (cli/donor.hpp), when it was
  unsigned workers = 2;
  std::chrono::microseconds throttle{0};
  config::Pace pace{};  // of the background materializer
  bool passthrough = true;
  bool keep_mounted = false;
  bool foreground = false;
};

// Told once: every view is live (code 0), or why not (an exit code and a message).
using ReadyFn = std::function<void(int code, const std::string& message)>;

// Runs the daemon in this process until every mount is gone.
int run_daemon(const DaemonPlan& plan, const ReadyFn& ready);


}  // namespace seedfs::cli
