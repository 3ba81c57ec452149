#include "seeding/build_lock.hpp"

#include <dirent.h>
#include <sys/file.h>

#include <functional>
#include <string_view>

namespace seedfs::seeding {
namespace {

constexpr std::string_view kLockNames[] = {".cargo-lock", ".cargo-build-lock",
                                           ".cargo-artifact-lock"};

// Calls `visit(dir_fd, name, rel)` for every lock file at most `depth` levels
// below `dir_fd`; stops when it returns false.
bool each_lock(int dir_fd, const std::string& rel, int depth,
               const std::function<bool(int, const char*, const std::string&)>& visit) {
  for (auto name : kLockNames) {
    std::string n(name);
    struct stat st {};
    if (sys::lstat_at(dir_fd, n.c_str(), st) == std::error_code{} && S_ISREG(st.st_mode) &&
        !visit(dir_fd, n.c_str(), rel.empty() ? n : rel + "/" + n))
      return false;
  }
  if (depth == 0) return true;
  std::error_code ec;
  sys::UniqueFd copy = sys::open_dir(dir_fd, ".", ec);
  if (!copy) return true;
  DIR* d = ::fdopendir(copy.release());
  if (!d) return true;
  bool go_on = true;
  while (struct dirent* e = ::readdir(d)) {
    std::string_view n(e->d_name);
    if (n == "." || n == ".." || (e->d_type != DT_DIR && e->d_type != DT_UNKNOWN)) continue;
    sys::UniqueFd sub = sys::open_dir(dir_fd, e->d_name, ec);
    if (!sub) continue;
    if (!(go_on = each_lock(sub.get(), rel.empty() ? std::string(n) : rel + "/" + std::string(n), depth - 1, visit)))
      break;
  }
  ::closedir(d);
  return go_on;
}

}  // namespace

std::optional<std::string> BuildLocks::acquire(int artifact_dir_fd) {
  release();
  std::optional<std::string> held;
  each_lock(artifact_dir_fd, "", 2, [&](int dir, const char* name, const std::string& rel) {
    std::error_code ec;
    sys::UniqueFd fd = sys::open_at(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK, 0, ec);
    if (!fd) return true;  // gone, or unreadable: nothing to hold
    if (::flock(fd.get(), LOCK_SH | LOCK_NB) == 0) {
      fds_.push_back(std::move(fd));
      return true;
    }
    if (errno != EWOULDBLOCK) return true;
    held = rel;
    return false;
  });
  if (held) release();
  return held;
}

size_t BuildLocks::count(int artifact_dir_fd) {
  size_t n = 0;
  each_lock(artifact_dir_fd, "", 2, [&](int, const char*, const std::string&) { return ++n, true; });
  return n;
}

std::optional<std::string> held_build_lock(int artifact_dir_fd) {
  BuildLocks locks;
  return locks.acquire(artifact_dir_fd);
}

}  // namespace seedfs::seeding
