// Running git: seedfs asks git (the program) what it knows of a checkout, as
// a child process with its output captured. Git's own environment variables
// that point at one repository (GIT_DIR, GIT_WORK_TREE, GIT_INDEX_FILE, ...)
// are not passed on: git sets them for its hooks, and a question about the
// root asked from a hook of the new worktree must reach the root.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace seedfs::git {

struct Output {
  std::error_code ec;  // git could not be started (e.g. ENOENT: not installed)
  int status = -1;     // its exit code, or 128 + signal
  std::string out, err;
  bool ok() const { return !ec && status == 0; }
  // The first line of stderr (or of `ec`), for a message.
  std::string why() const;
};

// `git -C <dir> <args...>`, stdin from /dev/null. With `read_only`, git takes
// no optional lock (`git status` would otherwise rewrite the index it refreshed).
Output run(const std::filesystem::path& dir, const std::vector<std::string>& args, bool read_only = true);

// The NUL-separated records of a `-z` output (the last one may end without NUL).
std::vector<std::string_view> split_z(std::string_view out);

}  // namespace seedfs::git
