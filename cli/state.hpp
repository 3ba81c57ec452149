// Where a mount's state lives (DESIGN.md, "State on disk"):
//   control socket and pid: $XDG_RUNTIME_DIR/seedfs/ (fallback /tmp/seedfs-<uid>/), dir 0700
//   log and journals:       $XDG_STATE_HOME/seedfs/ (fallback ~/.local/state/seedfs/), one dir per workspace
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <system_error>

namespace seedfs::cli {

struct StatePaths {
  std::string id;                  // "<ws name>-<hash of the ws path>"
  std::filesystem::path socket;    // the control socket
  std::filesystem::path pid_file;
  std::filesystem::path state_dir; // log and journals
  std::filesystem::path log;
  std::filesystem::path last_status;  // the daemon's final status, written as it exits
  // Present while the workspace's last mount was --keep-mounted: a resume keeps it so.
  std::filesystem::path kept_marker;
  // Which workspace this state belongs to (workspace.toml: its project dir and
  // each artifact's workspace dir), for `seedfs gc`.
  std::filesystem::path record;
  std::filesystem::path journal(const std::string& artifact) const;
  // T0 of the artifact's workspace dir (seeding/instant.hpp, cli/t0.hpp).
  std::filesystem::path t0_file(const std::string& artifact) const;
};

// The runtime dir (created 0700 if missing).
std::filesystem::path runtime_dir(std::error_code& ec);
StatePaths state_paths(const std::filesystem::path& ws_project, std::error_code& ec);

// Where every workspace's state dir is: $XDG_STATE_HOME/seedfs (or ~/.local/state/seedfs).
std::filesystem::path state_base();

// What workspace.toml says: the project dir and artifact name -> workspace dir.
struct WorkspaceRecord {
  std::filesystem::path project;
  std::map<std::string, std::filesystem::path> dirs;
};
std::error_code write_record(const StatePaths& state, const WorkspaceRecord& r);
std::optional<WorkspaceRecord> read_record(const std::filesystem::path& state_dir);

}  // namespace seedfs::cli
