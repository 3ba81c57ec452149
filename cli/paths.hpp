// Turning the user's <root> and <ws> project dirs into checked artifact dirs.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "cli/exit_codes.hpp"
#include "config/config.hpp"
#include "git/checkout.hpp"

namespace seedfs::cli {

namespace stdfs = std::filesystem;

struct Projects {
  stdfs::path root, ws;  // canonical project dirs
  // Their git checkouts (with the project at the top), where finding the
  // projects asked git already.
  std::optional<git::Checkout> root_checkout, ws_checkout;
};

struct ArtifactDirs {
  const config::Artifact* artifact = nullptr;
  stdfs::path root_dir;  // <root>/<path>, or cargo's build dir of the root: must exist
  stdfs::path ws_dir;    // <ws>/<path>, or cargo's build dir of the workspace: created if missing
  std::string found_by = "config";  // "config" (<project>/<path>) or "cargo metadata"
};

// Both must be existing directories and not the same one.
std::optional<CliError> check_projects(const stdfs::path& root, const stdfs::path& ws, Projects& out);

// check_projects, with git's defaults for what is not given: no <ws>, the
// checkout of the current dir; no <root> either, the main worktree of the
// repository, when the current dir is in a linked worktree (`git worktree add`).
std::optional<CliError> find_projects(const std::optional<stdfs::path>& root,
                                      const std::optional<stdfs::path>& ws, Projects& out);

// The workspace of `wait` and `unmount`: `ws`, else the checkout of the current dir, else it.
stdfs::path workspace_or_current(const std::optional<stdfs::path>& ws);

// The artifacts to work on: `only` if given (its root dir must exist), else
// every enabled one whose root dir exists (at least one must). Checks that no
// artifact dir is inside the other and that a present <ws>/<path> is a directory.
// The cargo artifact's dirs are cargo's build dirs (cargo/metadata.hpp) unless
// the config sets its path; where cargo cannot say, <project>/<path>. Both
// checkouts building into one dir (a shared CARGO_TARGET_DIR) is refused.
std::optional<CliError> select_artifacts(const config::Config& cfg, const Projects& p,
                                         const std::optional<std::string>& only,
                                         std::vector<ArtifactDirs>& out);

// An artifact dir of a project found by artifact_dirs_of.
struct ProjectDir {
  stdfs::path dir;
  stdfs::path project;   // empty for a dir given by hand (seedfs du <dir>)
  std::string artifact;  // "" likewise
};

// The enabled artifacts' dirs of `project` that exist, as `seed` finds them:
// cargo's build dir (asked of `cargo metadata`) where the config leaves
// cargo's path at its default, else <project>/<path>. For du and gc.
std::vector<ProjectDir> artifact_dirs_of(const config::Config& cfg, const stdfs::path& project);

// Every worktree of the current dir's repository (the main one first, in
// `worktrees`) and their artifact dirs (in `out`), cargo asked of all at once
// (~20 ms each). `what` names the command for the error outside a checkout.
std::optional<CliError> repository_artifact_dirs(const std::optional<stdfs::path>& config_file,
                                                 const std::string& what, std::vector<stdfs::path>& worktrees,
                                                 std::vector<ProjectDir>& out);

// Loads the config for these projects (see config/config.hpp for the order).
std::optional<CliError> load_config(const std::optional<stdfs::path>& file,
                                    const std::optional<stdfs::path>& ws,
                                    const std::optional<stdfs::path>& root, config::Config& out);

// `p` made absolute and normal, without requiring it to exist.
stdfs::path absolute_path(const stdfs::path& p);

}  // namespace seedfs::cli
