// The subcommands of `seedfs`; main.cpp parses the arguments into these.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"

namespace seedfs::cli {

struct Common {
  std::optional<std::filesystem::path> config_file;  // --config
  bool json = false;                                  // --json
};

// --rate, --bytes-rate, --priority (checked by the parser).
struct PaceArgs {
  std::optional<double> rate;
  std::optional<std::string> bytes_rate;
  std::optional<std::string> priority;
  // The config's limits with these flags over them. The config's priority is
  // that of mount's background materializer; `seed` (the foreground) runs at
  // normal priority unless --priority says otherwise.
  config::Pace resolve(const config::Config& cfg, bool background) const;
};

struct SeedArgs {
  Common common;
  std::optional<std::filesystem::path> root, ws;  // defaults: see find_projects (cli/paths.hpp)
  std::optional<std::string> artifact;
  std::optional<unsigned> workers;
  bool no_skip = false;
  bool dry_run = false;
  bool force = false;
  bool no_sync_mtimes = false;
  bool no_hardlinks = false;
  PaceArgs pace;
  unsigned throttle_us = 0;  // hidden: a pause per file, for tests
  size_t batch_size = 0;     // hidden: files per queued batch (benchmarks)
};
int cmd_seed(const SeedArgs& args);

struct ConfigArgs {
  Common common;
  std::optional<std::filesystem::path> root, ws;
};
int cmd_config(const ConfigArgs& args);

}  // namespace seedfs::cli

namespace seedfs::cli {

struct MountArgs {
  Common common;
  std::optional<std::filesystem::path> root, ws;  // defaults: see find_projects (cli/paths.hpp)
  std::optional<std::string> artifact;
  std::optional<unsigned> workers;
  bool force = false;
  bool no_sync_mtimes = false;
  bool no_hardlinks = false;
  PaceArgs pace;
  std::optional<bool> keep_mounted;  // --keep-mounted / --no-keep-mounted
  bool foreground = false;
  bool from_hook = false;  // hidden: run by the post-checkout hook (quiet where there is nothing to do)
  unsigned throttle_us = 0;  // hidden: a pause per materialized file, for tests
  bool no_passthrough = false;  // hidden: serve all file data through the daemon (benchmarks, tests)
};
int cmd_mount(const MountArgs& args);

struct StatusArgs {
  Common common;
  std::optional<std::filesystem::path> ws;  // none: every live mount of this user
  bool watch = false;
};
int cmd_status(const StatusArgs& args);

struct WorkspaceArgs {  // wait, unmount
  Common common;
  std::optional<std::filesystem::path> ws;  // default: the git checkout of the current dir
};
int cmd_wait(const WorkspaceArgs& args);
int cmd_unmount(const WorkspaceArgs& args);

struct VerifyArgs {
  Common common;
  std::optional<std::filesystem::path> root, ws;  // defaults as for seed
  std::optional<std::string> artifact;
  bool list = false;    // every shared file, not only the unsafe ones
  bool repair = false;  // remove the files seeded from a root changed after T0
};
int cmd_verify(const VerifyArgs& args);

struct HookArgs {
  Common common;
  bool install = false;                      // else uninstall
  std::optional<std::filesystem::path> repo;  // any dir of the repository; default: the current dir
};
int cmd_hook(const HookArgs& args);

struct DuArgs {
  Common common;
  std::vector<std::filesystem::path> dirs;  // none: every worktree's build dirs
  unsigned threads = 0;                      // 0: one per CPU, at least 2
};
int cmd_du(const DuArgs& args);

struct GcArgs {
  Common common;
  bool dry_run = false;
  bool targets = false;              // also the build dirs of worktrees not built for older_than
  std::string older_than = "14d";
};
int cmd_gc(const GcArgs& args);

struct DoctorArgs {
  Common common;
  std::optional<std::filesystem::path> root, ws;  // defaults as for mount; none found: machine checks only
};
int cmd_doctor(const DoctorArgs& args);

}  // namespace seedfs::cli
