#include "seeding/build_lock.hpp"

#include <dirent.h>
#include <sys/file.h>

#include <string_view>

#include "seeding/sys.hpp"

namespace seedfs::seeding {
namespace {

constexpr std::string_view kLockNames[] = {".cargo-lock", ".cargo-build-lock",
                                           ".cargo-artifact-lock"};

bool is_held(int dir_fd, const char* name) {
  std::error_code ec;
  sys::UniqueFd fd = sys::open_at(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK, 0, ec);
  if (!fd) return false;
  if (::flock(fd.get(), LOCK_SH | LOCK_NB) == 0) {
    ::flock(fd.get(), LOCK_UN);
    return false;
  }
  return errno == EWOULDBLOCK;
}

std::optional<std::string> search(int dir_fd, const std::string& rel, int depth) {
  for (auto name : kLockNames)
    if (is_held(dir_fd, std::string(name).c_str()))
      return rel.empty() ? std::string(name) : rel + "/" + std::string(name);
  if (depth == 0) return std::nullopt;
  std::error_code ec;
  sys::UniqueFd copy = sys::open_dir(dir_fd, ".", ec);
  if (!copy) return std::nullopt;
  DIR* d = ::fdopendir(copy.release());
  if (!d) return std::nullopt;
  std::optional<std::string> found;
  while (struct dirent* e = ::readdir(d)) {
    std::string_view n(e->d_name);
    if (n == "." || n == ".." || (e->d_type != DT_DIR && e->d_type != DT_UNKNOWN)) continue;
    sys::UniqueFd sub = sys::open_dir(dir_fd, e->d_name, ec);
    if (!sub) continue;
    found = search(sub.get(), rel.empty() ? std::string(n) : rel + "/" + std::string(n), depth - 1);
    if (found) break;
  }
  ::closedir(d);
  return found;
}

}  // namespace

std::optional<std::string> held_build_lock(int artifact_dir_fd) {
  return search(artifact_dir_fd, "", 2);
}

}  // namespace seedfs::seeding
