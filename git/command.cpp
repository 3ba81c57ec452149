#include "git/command.hpp"

namespace seedfs::git {

Output run(const std::filesystem::path& dir, const std::vector<std::string>& args, bool read_only) {
  // `git rev-parse --local-env-vars`: the variables that tie git to one repository.
  std::vector<std::string> env = sys::environment_without(
      {"GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_CONFIG", "GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT",
       "GIT_OBJECT_DIRECTORY", "GIT_DIR", "GIT_WORK_TREE", "GIT_IMPLICIT_WORK_TREE", "GIT_GRAFT_FILE",
       "GIT_INDEX_FILE", "GIT_NO_REPLACE_OBJECTS", "GIT_REPLACE_REF_BASE", "GIT_PREFIX",
       "GIT_INTERNAL_SUPER_PREFIX", "GIT_SHALLOW_FILE", "GIT_COMMON_DIR", "GIT_OPTIONAL_LOCKS"});
  if (read_only) env.emplace_back("GIT_OPTIONAL_LOCKS=0");
  std::vector<std::string> argv{"git", "-C", dir.string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return sys::run_program(argv, env);
}

std::vector<std::string_view> split_z(std::string_view out) {
  std::vector<std::string_view> records;
  while (!out.empty()) {
    size_t end = out.find('\0');
    records.push_back(out.substr(0, end));
    if (end == std::string_view::npos) break;
    out.remove_prefix(end + 1);
  }
  return records;
}

}  // namespace seedfs::git
