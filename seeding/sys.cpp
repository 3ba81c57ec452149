#include "seeding/sys.hpp"

#include <poll.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstdio>
#include <algorithm>
#include <cstring>
#include <vector>

extern char** environ;

namespace seedfs::sys {

Reach::Reach(int dirfd, const char* path) : dir_(dirfd), name_(path) {
  std::string_view rest(path);
  if (rest.size() < PATH_MAX) return;
  size_t last = rest.rfind('/');
  if (last == std::string_view::npos) {
    ec_ = make_error(ENAMETOOLONG);  // one name longer than any filesystem allows
    return;
  }
  name_ = path + last + 1;
  rest = rest.substr(0, last);
  while (!rest.empty()) {
    size_t cut = rest.size();
    if (cut >= PATH_MAX) {
      cut = rest.rfind('/', PATH_MAX - 1);
      if (cut == std::string_view::npos || cut == 0) {
        ec_ = make_error(ENAMETOOLONG);
        return;
      }
    }
    std::string stretch(rest.substr(0, cut));
    int fd = ::openat(dir_, stretch.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
      ec_ = last_error();
      return;
    }
    held_.reset(fd);  // the previous stretch's fd is needed no longer
    dir_ = fd;
    rest.remove_prefix(std::min(cut + 1, rest.size()));
  }
}

UniqueFd open_at(int dirfd, const char* path, int flags, mode_t mode, std::error_code& ec) {
  int fd = beneath(dirfd, path, [&](int dir, const char* name) {
    int fd;
    do {
      fd = ::openat(dir, name, flags | O_CLOEXEC, mode);
    } while (fd < 0 && errno == EINTR);
    return fd;
  });
  ec = fd < 0 ? last_error() : std::error_code{};
  return UniqueFd(fd);
}

UniqueFd open_dir(int dirfd, const char* path, std::error_code& ec) {
  return open_at(dirfd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0, ec);
}

std::error_code lstat_at(int dirfd, const char* path, struct stat& st) {
  int flags = AT_SYMLINK_NOFOLLOW | (*path ? 0 : AT_EMPTY_PATH);
  if (beneath(dirfd, path, [&](int dir, const char* name) { return ::fstatat(dir, name, &st, flags); }) != 0)
    return last_error();
  return {};
}

std::error_code statx_at(int dirfd, const char* path, struct statx& sx) {
  int flags = AT_SYMLINK_NOFOLLOW | AT_STATX_SYNC_AS_STAT | (*path ? 0 : AT_EMPTY_PATH);
  if (beneath(dirfd, path, [&](int dir, const char* name) {
        return ::statx(dir, name, flags, STATX_BASIC_STATS | STATX_BTIME, &sx);
      }) != 0)
    return last_error();
  return {};
}

struct stat to_stat(const struct statx& sx) {
  struct stat st {};
  st.st_dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
  st.st_ino = sx.stx_ino;
  st.st_mode = sx.stx_mode;
  st.st_nlink = sx.stx_nlink;
  st.st_uid = sx.stx_uid;
  st.st_gid = sx.stx_gid;
  st.st_rdev = makedev(sx.stx_rdev_major, sx.stx_rdev_minor);
  st.st_size = static_cast<off_t>(sx.stx_size);
  st.st_blksize = static_cast<blksize_t>(sx.stx_blksize);
  st.st_blocks = static_cast<blkcnt_t>(sx.stx_blocks);
  st.st_atim = {sx.stx_atime.tv_sec, sx.stx_atime.tv_nsec};
  st.st_mtim = {sx.stx_mtime.tv_sec, sx.stx_mtime.tv_nsec};
  st.st_ctim = {sx.stx_ctime.tv_sec, sx.stx_ctime.tv_nsec};
  return st;
}

std::error_code dir_identity(int dir_fd, std::string& id) {
  struct statx sx {};
  if (::statx(dir_fd, "", AT_EMPTY_PATH, STATX_INO | STATX_BTIME, &sx) != 0) return last_error();
  long long btime = (sx.stx_mask & STATX_BTIME) ? sx.stx_btime.tv_sec * 1000000000ll + sx.stx_btime.tv_nsec : 0;
  char buf[96];
  std::snprintf(buf, sizeof buf, "%u:%u %llu %lld", sx.stx_dev_major, sx.stx_dev_minor,
                static_cast<unsigned long long>(sx.stx_ino), btime);
  id = buf;
  return {};
}

std::error_code read_link_at(int dirfd, const char* path, std::string& target) {
  std::vector<char> buf(256);
  for (;;) {
    ssize_t n = beneath(dirfd, path, [&](int dir, const char* name) {
      return ::readlinkat(dir, name, buf.data(), buf.size());
    });
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

namespace {

std::vector<char*> pointers(std::vector<std::string>& v) {
  std::vector<char*> p;
  for (auto& s : v) p.push_back(s.data());
  p.push_back(nullptr);
  return p;
}

// Reads both pipes to their end (either may fill while the other is read).
void drain(UniqueFd& out_fd, UniqueFd& err_fd, std::string& out, std::string& err) {
  char buf[65536];
  while (out_fd || err_fd) {
    pollfd fds[2] = {{out_fd.get(), POLLIN, 0}, {err_fd.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    for (int i = 0; i < 2; ++i) {
      if (!fds[i].revents) continue;
      UniqueFd& fd = i == 0 ? out_fd : err_fd;
      ssize_t n = ::read(fd.get(), buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) fd.reset();
      else (i == 0 ? out : err).append(buf, static_cast<size_t>(n));
    }
  }
}

}  // namespace

std::string ProgramOutput::why() const {
  if (ec) return ec == std::errc::no_such_file_or_directory ? program + " is not installed" : program + ": " + ec.message();
  std::string line = err.substr(0, err.find('\n'));
  if (line.empty()) line = program + " exited with " + std::to_string(status);
  return line;
}

ProgramOutput run_program(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                          const std::string& dir) {
  ProgramOutput r;
  r.program = argv.empty() ? "" : argv[0];
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return r.ec = last_error(), r;
  UniqueFd out_r(out_pipe[0]), out_w(out_pipe[1]);
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) return r.ec = last_error(), r;
  UniqueFd err_r(err_pipe[0]), err_w(err_pipe[1]);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_w.get(), 1);
  posix_spawn_file_actions_adddup2(&actions, err_w.get(), 2);
  if (!dir.empty()) posix_spawn_file_actions_addchdir_np(&actions, dir.c_str());
  std::vector<std::string> args = argv, envs = env;
  auto av = pointers(args), ev = pointers(envs);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, av[0], &actions, nullptr, av.data(), ev.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return r.ec = make_error(rc), r;
  out_w.reset();
  err_w.reset();
  drain(out_r, err_r, r.out, r.err);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

std::vector<std::string> environment_without(const std::vector<std::string_view>& drop) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string_view kv(*e);
    std::string_view name = kv.substr(0, kv.find('='));
    bool dropped = false;
    for (auto d : drop) dropped |= name == d;
    if (!dropped) env.emplace_back(kv);
  }
  return env;
}

}  // namespace seedfs::sys
