#include "fs/root_watch.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cstring>

namespace seedfs::fs {
namespace {

// What can make a cached name wrong: a new entry (a negative entry the kernel
// keeps is right: it is after T0), a write, a replacement, a removal, a
// metadata change (a rewrite whose mtime was set back moves only ctime).
constexpr uint32_t kEvents = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_MODIFY | IN_ATTRIB |
                             IN_CLOSE_WRITE | IN_ONLYDIR | IN_EXCL_UNLINK;

}  // namespace

RootWatch::RootWatch(int lower_fd, Changed changed)
    : lower_fd_(lower_fd),
      changed_(std::move(changed)),
      inotify_(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC)),
      wake_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (!inotify_ || !wake_) {
    spdlog::warn("inotify: {}: a name the kernel cached is dropped only when opened, if the root changes it",
                 std::strerror(errno));
    return;
  }
  thread_ = std::thread([this] { loop(); });
}

RootWatch::~RootWatch() {
  if (thread_.joinable()) {
    uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_.get(), &one, sizeof one);
    thread_.join();
  }
}

bool RootWatch::watch(const std::string& rel) {
  if (!thread_.joinable()) return false;
  std::lock_guard lock(mu_);
  if (watched_.count(rel)) return true;
  // inotify takes only paths, and the root may be reached by no path this
  // process can name: the dir is opened from the artifact dir's fd and
  // watched through /proc/self/fd (its own fd: a deep dir's path below the
  // artifact dir's may not fit in PATH_MAX).
  std::error_code ec;
  sys::UniqueFd dir = sys::open_at(lower_fd_, rel.empty() ? "." : rel.c_str(), O_PATH | O_DIRECTORY, 0, ec);
  int wd = -1;
  if (dir) {
    std::string path = "/proc/self/fd/" + std::to_string(dir.get());
    wd = ::inotify_add_watch(inotify_.get(), path.c_str(), kEvents);
  } else {
    errno = ec.value();
  }
  if (wd < 0) {
    if (!warned_ && errno != ENOENT && errno != ENOTDIR) {
      warned_ = true;
      spdlog::warn("inotify on {}: {} (fs.inotify.max_user_watches?): names of the root the kernel cached are "
                   "dropped only when opened, if the root changes them",
                   rel.empty() ? "." : rel, std::strerror(errno));
    }
    return false;
  }
  dirs_[wd] = rel;
  watched_.insert(rel);
  return true;
}

size_t RootWatch::watched() const {
  std::lock_guard lock(mu_);
  return watched_.size();
}

void RootWatch::loop() {
  alignas(struct inotify_event) char buf[64 * 1024];
  for (;;) {
    pollfd fds[2] = {{inotify_.get(), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0 && errno != EINTR) return;
    if (fds[1].revents) return;
    ssize_t len = ::read(inotify_.get(), buf, sizeof buf);
    if (len <= 0) continue;
    for (ssize_t off = 0; off < len;) {
      auto* e = reinterpret_cast<struct inotify_event*>(buf + off);
      off += static_cast<ssize_t>(sizeof(struct inotify_event) + e->len);
      std::string dir;
      {
        std::lock_guard lock(mu_);
        auto it = dirs_.find(e->wd);
        if (it == dirs_.end()) continue;
        dir = it->second;
        if (e->mask & IN_IGNORED) {  // the dir itself went away
          watched_.erase(dir);
          dirs_.erase(it);
          continue;
        }
      }
      if (e->len > 0) changed_(dir, e->name);
    }
  }
}

}  // namespace seedfs::fs
