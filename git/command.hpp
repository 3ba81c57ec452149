// Running git: seedfs asks git (the program) what it knows of a checkout, as
// a child process with its output captured. Git's own environment variables
// that point at one repository (GIT_DIR, GIT_WORK_TREE, GIT_INDEX_FILE, ...)
// are not passed on: git sets them for its hooks, and a question about the
// root asked from a hook of the new worktree must reach the root.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "seeding/sys.hpp"

namespace seedfs::git {

using Output = sys::ProgramOutput;

// `git -C <dir> <args...>`, stdin from /dev/null. With `read_only`, git takes
// no optional lock (`git status` would otherwise rewrite the index it refreshed).
Output run(const std::filesystem::path& dir, const std::vector<std::string>& args, bool read_only = true);

// The NUL-separated records of a `-z` output (the last one may end without NUL).
std::vector<std::string_view> split_z(std::string_view out);

}  // namespace seedfs::git
