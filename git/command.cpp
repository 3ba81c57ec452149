#include "git/command.hpp"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "seeding/sys.hpp"

extern char** environ;

namespace seedfs::git {
namespace {

// `git rev-parse --local-env-vars`: the variables that tie git to one repository.
constexpr std::array kRepositoryVars = {
    "GIT_ALTERNATE_OBJECT_DIRECTORIES=", "GIT_CONFIG=", "GIT_CONFIG_PARAMETERS=",
    "GIT_CONFIG_COUNT=", "GIT_OBJECT_DIRECTORY=", "GIT_DIR=", "GIT_WORK_TREE=",
    "GIT_IMPLICIT_WORK_TREE=", "GIT_GRAFT_FILE=", "GIT_INDEX_FILE=", "GIT_NO_REPLACE_OBJECTS=",
    "GIT_REPLACE_REF_BASE=", "GIT_PREFIX=", "GIT_INTERNAL_SUPER_PREFIX=", "GIT_SHALLOW_FILE=",
    "GIT_COMMON_DIR=", "GIT_OPTIONAL_LOCKS="};

std::vector<std::string> child_environment(bool read_only) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    bool drop = false;
    for (const char* v : kRepositoryVars) drop |= std::strncmp(*e, v, std::strlen(v)) == 0;
    if (!drop) env.emplace_back(*e);
  }
  if (read_only) env.emplace_back("GIT_OPTIONAL_LOCKS=0");
  return env;
}

std::vector<char*> pointers(std::vector<std::string>& v) {
  std::vector<char*> p;
  for (auto& s : v) p.push_back(s.data());
  p.push_back(nullptr);
  return p;
}

// Reads both pipes to their end (either may fill while the other is read).
void drain(sys::UniqueFd& out_fd, sys::UniqueFd& err_fd, std::string& out, std::string& err) {
  char buf[65536];
  while (out_fd || err_fd) {
    pollfd fds[2] = {{out_fd.get(), POLLIN, 0}, {err_fd.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    for (int i = 0; i < 2; ++i) {
      if (!fds[i].revents) continue;
      sys::UniqueFd& fd = i == 0 ? out_fd : err_fd;
      ssize_t n = ::read(fd.get(), buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) fd.reset();
      else (i == 0 ? out : err).append(buf, static_cast<size_t>(n));
    }
  }
}

}  // namespace

std::string Output::why() const {
  if (ec) return ec == std::errc::no_such_file_or_directory ? "git is not installed" : "git: " + ec.message();
  std::string line = err.substr(0, err.find('\n'));
  if (line.empty()) line = "git exited with " + std::to_string(status);
  return line;
}

Output run(const std::filesystem::path& dir, const std::vector<std::string>& args, bool read_only) {
  Output r;
  std::vector<std::string> argv{"git", "-C", dir.string()};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<std::string> env = child_environment(read_only);
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return r.ec = sys::last_error(), r;
  sys::UniqueFd out_r(out_pipe[0]), out_w(out_pipe[1]);
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) return r.ec = sys::last_error(), r;
  sys::UniqueFd err_r(err_pipe[0]), err_w(err_pipe[1]);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_w.get(), 1);
  posix_spawn_file_actions_adddup2(&actions, err_w.get(), 2);
  pid_t pid = -1;
  auto av = pointers(argv), ev = pointers(env);
  int rc = posix_spawnp(&pid, "git", &actions, nullptr, av.data(), ev.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return r.ec = sys::make_error(rc), r;
  out_w.reset();
  err_w.reset();
  drain(out_r, err_r, r.out, r.err);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
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
