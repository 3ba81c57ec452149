// Thin wrappers over the syscalls seedfs uses: an owning fd, errno as
// std::error_code, and the few calls that need a loop or a fallback.
#pragma once

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

namespace seedfs::sys {

// An owned file descriptor, closed on destruction.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) reset(std::exchange(o.fd_, -1));
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

inline std::error_code last_error() { return {errno, std::system_category()}; }
inline std::error_code make_error(int err) { return {err, std::system_category()}; }

// `path` below `dirfd`, made usable by one *at() call whatever its length.
// From PATH_MAX bytes on, every such call fails ENAMETOOLONG, though the
// kernel walks any depth a component at a time, and the view's paths are
// longer than the ones its callers walked (they start at <ws>/target, not
// at the caller's directory). So a long path's parent is opened a stretch
// shorter than PATH_MAX at a time (O_PATH: search permission only, as the
// kernel's own walk), and the call is made from there on the last name.
// A short path costs nothing: dir() and name() are what was given.
class Reach {
 public:
  Reach(int dirfd, const char* path);
  int dir() const { return dir_; }
  const char* name() const { return name_; }
  // Why the parent could not be reached (ENOENT, ENOTDIR, EACCES...), as the
  // call itself would have failed.
  std::error_code error() const { return ec_; }

 private:
  UniqueFd held_;
  int dir_;
  const char* name_;
  std::error_code ec_;
};

// Runs `call(dir, name)` on `path` below `dirfd` reached as Reach does. If it
// cannot be reached, returns what the call returns on failure (-1 with errno
// set, or the error_code) without calling it.
template <class Call>
auto beneath(int dirfd, const char* path, Call&& call) -> decltype(call(dirfd, path)) {
  using Result = decltype(call(dirfd, path));
  if (std::strlen(path) < PATH_MAX) [[likely]] return call(dirfd, path);
  Reach r(dirfd, path);
  if (r.error()) {
    errno = r.error().value();
    if constexpr (std::is_same_v<Result, std::error_code>) return r.error();
    else return Result(-1);
  }
  return call(r.dir(), r.name());
}
// The same for the two paths of linkat(2), renameat(2) and the like.
template <class Call>
auto beneath(int dirfd1, const char* path1, int dirfd2, const char* path2, Call&& call)
    -> decltype(call(dirfd1, path1, dirfd2, path2)) {
  return beneath(dirfd1, path1, [&](int d1, const char* n1) {
    return beneath(dirfd2, path2, [&](int d2, const char* n2) { return call(d1, n1, d2, n2); });
  });
}

// openat(2) that retries EINTR; the result is invalid and `ec` set on failure.
UniqueFd open_at(int dirfd, const char* path, int flags, mode_t mode, std::error_code& ec);
// A directory, opened read-only, without following a final symlink.
UniqueFd open_dir(int dirfd, const char* path, std::error_code& ec);

// fstatat(2) without following symlinks; `path` "" means the fd itself.
std::error_code lstat_at(int dirfd, const char* path, struct stat& st);

// statx(2) without following symlinks, asking for the birth time too (which
// the judgement of T0 needs, seeding/instant.hpp); `path` "" means the fd itself.
std::error_code statx_at(int dirfd, const char* path, struct statx& sx);
// The struct stat that lstat would have filled.
struct stat to_stat(const struct statx& sx);

// A directory's identity, beyond its path: "<major>:<minor> <inode> <birth
// time in ns>" (a new dir may get the inode number of a removed one).
std::error_code dir_identity(int dir_fd, std::string& id);

// The target of a symlink, read whole whatever its length.
std::error_code read_link_at(int dirfd, const char* path, std::string& target);

// Raises the soft limit of open files to the hard limit (the walk keeps
// directory fds open while their files are being linked).
void raise_fd_limit();

// The process umask, read without changing it (from /proc/self/status; 022 if unreadable).
mode_t process_umask();

// "path: strerror" for messages.
std::string describe(std::string_view path, std::error_code ec);

// What a child process did: how it exited and what it printed.
struct ProgramOutput {
  std::string program;
  std::error_code ec;  // it could not be started (ENOENT: not installed)
  int status = -1;     // its exit code, or 128 + signal
  std::string out, err;
  bool ok() const { return !ec && status == 0; }
  // "<program> is not installed", or the first line of its stderr, for a message.
  std::string why() const;
};

// Runs argv[0] (looked up on PATH) in `dir` (unless empty) with the
// environment `env` ("NAME=value" strings) and stdin from /dev/null, and
// captures stdout and stderr.
ProgramOutput run_program(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                          const std::string& dir = {});

// This process's environment without the variables `drop` names.
std::vector<std::string> environment_without(const std::vector<std::string_view>& drop);

}  // namespace seedfs::sys
