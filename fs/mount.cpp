#include "fs/mount.hpp"

#include <fcntl.h>
#include <grp.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
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

// Our own worker loop, not fuse_session_loop_mt: libfuse 3.14's loop ends by
// pthread_cancel()ing its workers, and a worker is cancellable while it reads
// the device, including the perror() it makes when that read fails with
// ECONNABORTED (a request caught as the connection goes away). Cancelled
// inside stdio, it leaves stderr's lock held, and the process hangs in exit()
// flushing stderr (seen in the view tests; the daemon would hang the same
// way). Here every worker simply returns once the kernel has ended the
// connection: each blocked read then fails.
void Session::serve(unsigned max_threads) {
  max_threads_ = std::max(1u, max_threads);
  idle_ = 1;
  loop_ = std::thread([this] {
    work();
    join_workers();
    std::lock_guard lock(mu_);
    ended_ = true;
    mounted_ = false;  // the kernel dropped the connection: nothing mounted any more
    cv_.notify_all();
  });
}

void Session::work() {
  // Signals belong to the daemon's supervising thread, as in libfuse's workers.
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, nullptr);
  fuse_buf buf{};
  while (!fuse_session_exited(se_)) {
    int res = fuse_session_receive_buf(se_, &buf);
    if (res == -EINTR) continue;
    if (res <= 0) {  // 0: unmounted (ENODEV); < 0: the connection failed or was aborted
      fuse_session_exit(se_);
      break;
    }
    {
      // A request that blocks (a waiting flock) holds its worker: start another
      // whenever the last idle one takes a request, up to the limit.
      std::lock_guard lock(mu_);
      if (--idle_ == 0 && workers_.size() + 1 < max_threads_) {
        ++idle_;
        workers_.emplace_back([this] { work(); });
      }
    }
    fuse_session_process_buf(se_, &buf);
    std::lock_guard lock(mu_);
    ++idle_;
  }
  std::free(buf.mem);
}

void Session::join_workers() {
  // Workers started while this runs end at once (the connection is gone).
  for (;;) {
    std::thread t;
    {
      std::lock_guard lock(mu_);
      if (workers_.empty()) return;
      t = std::move(workers_.front());
      workers_.pop_front();
    }
    t.join();
  }
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
