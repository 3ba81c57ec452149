#include "seeding/sys.hpp"

#include <sys/resource.h>

#include <cerrno>
#include <cstdio>
#include <vector>

namespace seedfs::sys {

UniqueFd open_at(int dirfd, const char* path, int flags, mode_t mode, std::error_code& ec) {
  int fd;
  do {
    fd = ::openat(dirfd, path, flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  ec = fd < 0 ? last_error() : std::error_code{};
  return UniqueFd(fd);
}

UniqueFd open_dir(int dirfd, const char* path, std::error_code& ec) {
  return open_at(dirfd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0, ec);
}

std::error_code lstat_at(int dirfd, const char* path, struct stat& st) {
  int flags = AT_SYMLINK_NOFOLLOW | (*path ? 0 : AT_EMPTY_PATH);
  if (::fstatat(dirfd, path, &st, flags) != 0) return last_error();
  return {};
}

std::error_code read_link_at(int dirfd, const char* path, std::string& target) {
  std::vector<char> buf(256);
  for (;;) {
    ssize_t n = ::readlinkat(dirfd, path, buf.data(), buf.size());
    if (n < 0) return last_error();
    if (static_cast<size_t>(n) < buf.size()) {
      target.assign(buf.data(), static_cast<size_t>(n));
      return {};
    }
    buf.resize(buf.size() * 4);
  }
}

void raise_fd_limit() {
  struct rlimit lim {};
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &lim);
  }
}

mode_t process_umask() {
  // umask(2) can only be read by setting it, which races with other threads.
  static const mode_t mask = [] {
    mode_t m = 022;
    if (FILE* f = std::fopen("/proc/self/status", "re")) {
      char line[256];
      while (std::fgets(line, sizeof line, f))
        if (unsigned v; std::sscanf(line, "Umask: %o", &v) == 1) {
          m = static_cast<mode_t>(v);
          break;
        }
      std::fclose(f);
    }
    return m;
  }();
  return mask;
}

std::string describe(std::string_view path, std::error_code ec) {
  std::string out(path.empty() ? "." : path);
  out += ": ";
  out += ec.message();
  return out;
}

}  // namespace seedfs::sys
