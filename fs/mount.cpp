#include "fs/mount.hpp"

#include <fcntl.h>
#include <grp.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

extern char** environ;

namespace seedfs::fs {
namespace {

bool is_root() { return ::geteuid() == 0; }

// fusermount3 for users who may not call umount2 themselves.
int run_fusermount(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  std::string prog = "fusermount3";
  argv.push_back(prog.data());
  std::vector<std::string> copy = args;
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid;
  if (posix_spawnp(&pid, "fusermount3", nullptr, nullptr, argv.data(), environ) != 0) return -1;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      int v = 0;
      bool ok = true;
      for (int k = 1; k <= 3; ++k) {
        char c = s[i + k];
        if (c < '0' || c > '7') ok = false;
        v = v * 8 + (c - '0');
      }
      if (ok) {
        out += static_cast<char>(v);
        i += 3;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

}  // namespace

Session::~Session() {
  if (mounted_) {
    bool lazy = false;
    unmount(lazy);
  }
  if (loop_.joinable()) {
    // The loop ends once the kernel closes the connection; after a lazy
    // unmount that waits for the last user. Do not leave it running detached.
    loop_.join();
  }
  if (se_) {
    // The connection is gone by now: this only closes the fd and frees the
    // mount point libfuse kept (its unmount returns early on a dead fd).
    if (ended_) fuse_session_unmount(se_);
    fuse_session_destroy(se_);
  }
}

std::error_code Session::mount(const std::string& mountpoint, const fuse_lowlevel_ops& ops,
                               void* userdata, const std::string& fsname) {
  std::string opts = "fsname=" + fsname + ",subtype=seedfs,default_permissions";
  // Root mounts for everyone (the kernel checks modes); others need
  // user_allow_other in /etc/fuse.conf for that, and do not need it.
  if (is_root()) opts += ",allow_other";
  std::vector<std::string> args = {"seedfs", "-o", opts};
  if (const char* dbg = std::getenv("SEEDFS_FUSE_DEBUG"); dbg && *dbg == '1') args.push_back("-d");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  fuse_args fargs = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
  se_ = fuse_session_new(&fargs, &ops, sizeof ops, userdata);
  fuse_opt_free_args(&fargs);
  if (!se_) return std::make_error_code(std::errc::invalid_argument);
  if (fuse_session_mount(se_, mountpoint.c_str()) != 0) {
    fuse_session_destroy(se_);
    se_ = nullptr;
    return std::make_error_code(std::errc::operation_not_permitted);
  }
  mountpoint_ = mountpoint;
  mounted_ = true;
  return {};
}

void Session::serve(unsigned max_threads) {
  loop_ = std::thread([this, max_threads] {
    fuse_loop_config* cfg = fuse_loop_cfg_create();
    fuse_loop_cfg_set_clone_fd(cfg, 1);  // one /dev/fuse fd per thread
    fuse_loop_cfg_set_max_threads(cfg, max_threads);
    // Keep threads around: starting one per burst of requests costs more than it idles.
    fuse_loop_cfg_set_idle_threads(cfg, 16);
    fuse_session_loop_mt(se_, cfg);
    fuse_loop_cfg_destroy(cfg);
    std::lock_guard lock(mu_);
    ended_ = true;
    mounted_ = false;  // the kernel dropped the connection: nothing mounted any more
    cv_.notify_all();
  });
}

std::error_code Session::unmount(bool& lazy) {
  lazy = false;
  if (!mounted_) return {};
  const char* mnt = mountpoint_.c_str();
  if (is_root()) {
    if (::umount2(mnt, 0) == 0) {
      mounted_ = false;
      return {};
    }
    if (errno != EBUSY) return std::error_code(errno, std::system_category());
    if (::umount2(mnt, MNT_DETACH) != 0) return std::error_code(errno, std::system_category());
  } else {
    if (run_fusermount({"-u", "-q", mountpoint_}) == 0) {
      mounted_ = false;
      return {};
    }
    if (run_fusermount({"-u", "-q", "-z", mountpoint_}) != 0)
      return std::make_error_code(std::errc::device_or_resource_busy);
  }
  lazy = true;
  mounted_ = false;
  return {};
}

bool Session::wait_for(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return ended_.load(); });
}

std::optional<MountEntry> mount_at(const std::string& path) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  std::optional<MountEntry> found;
  while (std::getline(in, line)) {
    // id parent major:minor root mountpoint options [optional...] - fstype source superopts
    std::istringstream fields(line);
    std::string id, parent, dev, root, mnt;
    fields >> id >> parent >> dev >> root >> mnt;
    if (unescape(mnt) != path) continue;
    size_t dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream tail(line.substr(dash + 3));
    MountEntry e;
    e.mountpoint = path;
    tail >> e.fstype >> e.source;
    e.source = unescape(e.source);
    found = e;  // the last one listed is on top
  }
  return found;
}

bool is_dead_mount(const std::string& path) {
  // statfs always reaches the daemon; stat may be answered from the kernel's
  // attribute cache even after the connection is gone.
  struct statfs st {};
  return ::statfs(path.c_str(), &st) != 0 && errno == ENOTCONN;
}

std::error_code detach_mount(const std::string& path) {
  if (is_root()) {
    if (::umount2(path.c_str(), MNT_DETACH) != 0) return std::error_code(errno, std::system_category());
    return {};
  }
  if (run_fusermount({"-u", "-q", "-z", path}) != 0)
    return std::make_error_code(std::errc::operation_not_permitted);
  return {};
}

std::optional<std::string> fuse_unavailable() {
  int fd = ::open("/dev/fuse", O_RDWR | O_CLOEXEC);
  if (fd >= 0) {
    ::close(fd);
    if (!is_root() && ::access("/bin/fusermount3", X_OK) != 0 &&
        ::access("/usr/bin/fusermount3", X_OK) != 0)
      return std::string("fusermount3 is missing: install the fuse3 package (apt-get install fuse3)");
    return std::nullopt;
  }
  int err = errno;
  if (err == ENOENT)
    return std::string("/dev/fuse does not exist: load the module (modprobe fuse) or, in a "
                       "container, pass the device in (docker run --device /dev/fuse --cap-add SYS_ADMIN)");
  struct stat st {};
  std::string mode;
  if (::stat("/dev/fuse", &st) == 0) {
    char buf[96];
    const struct group* g = ::getgrgid(st.st_gid);
    std::snprintf(buf, sizeof buf, " (mode %04o, group %s)", st.st_mode & 07777, g ? g->gr_name : "?");
    mode = buf;
  }
  return std::string("/dev/fuse: ") + std::strerror(err) + mode +
         ": FUSE needs read-write access to it; Debian's default is 0666 (as root: chmod 0666 "
         "/dev/fuse, or a udev rule KERNEL==\"fuse\", MODE=\"0666\" to keep it), or run as root";
}

}  // namespace seedfs::fs
