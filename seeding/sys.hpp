// Thin wrappers over the syscalls seedfs uses: an owning fd, errno as
// std::error_code, and the few calls that need a loop or a fallback.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <string_view>
#include <system_error>
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
