// Where cargo builds a workspace, as cargo itself says: `cargo metadata
// --format-version 1 --no-deps` gives `target_directory` and (cargo 1.91+)
// `build_directory`, with CARGO_TARGET_DIR, build.target-dir, build.build-dir
// and its {workspace-root} templates already applied. The build dir holds
// what makes a build fresh (deps/, build/, .fingerprint/); cargo copies the
// final artifacts from it into the target dir on every build.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace seedfs::cargo {

struct Dirs {
  std::filesystem::path workspace_root;
  std::filesystem::path target_dir;
  std::filesystem::path build_dir;  // the target dir for a cargo older than 1.91
};

struct Lookup {
  std::optional<Dirs> dirs;
  bool no_cargo = false;  // cargo is not installed (not on PATH)
  std::string why;        // why there are no dirs
};

// Asks the cargo on PATH about the workspace of `project`.
Lookup locate(const std::filesystem::path& project);

// The members of a JSON object whose values are strings, decoded (what
// `cargo metadata` prints is read no further); nullopt if `json` is not a
// well-formed object.
std::optional<std::map<std::string, std::string>> top_level_strings(std::string_view json);

}  // namespace seedfs::cargo
