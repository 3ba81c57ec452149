#include "fs/passthrough.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <string>

namespace seedfs::fs::passthrough {
namespace {

// ---- The kernel ABI this needs (include/uapi/linux/fuse.h, protocol 7.40),
// which Debian 12's headers predate. ----
constexpr uint32_t kOpInit = 26;
constexpr uint32_t kInitExt = 1u << 30;               // flags2 is valid
constexpr uint32_t kPassthroughFlag2 = 1u << (37 - 32);  // FUSE_PASSTHROUGH, in flags2
constexpr uint32_t kFopenPassthrough = 1u << 7;
constexpr uint32_t kFopenKeepCache = 1u << 1;  // not allowed with passthrough

struct InHeader {
  uint32_t len, opcode;
  uint64_t unique, nodeid;
  uint32_t uid, gid, pid;
  uint16_t total_extlen, padding;
};
struct InitIn {
  uint32_t major, minor, max_readahead, flags, flags2;
};
struct OutHeader {
  uint32_t len;
  int32_t error;
  uint64_t unique;
};
struct InitOut {
  uint32_t major, minor, max_readahead, flags;
  uint16_t max_background, congestion_threshold;
  uint32_t max_write, time_gran;
  uint16_t max_pages, map_alignment;
  uint32_t flags2, max_stack_depth;
  uint16_t request_timeout, unused[11];
};
static_assert(sizeof(InitOut) == 64);
struct OpenOut {
  uint64_t fh;
  uint32_t open_flags;
  int32_t backing_id;
};
struct BackingMap {
  int32_t fd;
  uint32_t flags;
  uint64_t padding;
};
const unsigned long kIocBackingOpen = _IOW(229, 1, BackingMap);
const unsigned long kIocBackingClose = _IOW(229, 2, uint32_t);

// The same for every session of the process; set again by each install().
std::atomic<ModesOf> g_modes_of{nullptr};

// Requests are read and answered by the same thread, so what a hook must
// carry from a request to its reply is thread-local.
thread_local uint64_t t_init_unique = 0;  // an INIT that offered passthrough
thread_local uint64_t t_mark_fh = 0;      // see mark_reply
thread_local int t_mark_id = 0;

ssize_t hook_read(int fd, void* buf, size_t len, void* userdata) {
  ssize_t n = ::read(fd, buf, len);
  // A request caught as the connection goes away fails with ECONNABORTED,
  // which libfuse would print on stderr; it is the same end as an unmount.
  if (n < 0 && errno == ECONNABORTED) errno = ENODEV;
  if (n >= static_cast<ssize_t>(sizeof(InHeader) + sizeof(InitIn))) {
    InHeader h;
    std::memcpy(&h, buf, sizeof h);
    if (h.opcode == kOpInit) {
      InitIn in;
      std::memcpy(&in, static_cast<char*>(buf) + sizeof h, sizeof in);
      bool offered = (in.flags & kInitExt) && (in.flags2 & kPassthroughFlag2);
      t_init_unique = offered && g_modes_of.load()(userdata).wanted() ? h.unique : 0;
    }
  }
  return n;
}

// The last `size` bytes of the message, when they sit in one iovec.
void* tail(iovec* iov, int count, size_t size) {
  if (count < 2 || iov[count - 1].iov_len < size) return nullptr;
  return static_cast<char*>(iov[count - 1].iov_base) + iov[count - 1].iov_len - size;
}

void patch_init(iovec* iov, int count, IoModes& modes) {
  size_t payload = 0;
  for (int i = 1; i < count; ++i) payload += iov[i].iov_len;
  auto* out = static_cast<InitOut*>(payload == sizeof(InitOut) ? tail(iov, count, sizeof(InitOut)) : nullptr);
  if (!out) return;
  // Writeback caching would defeat passthrough; the view never asks for it.
  constexpr uint32_t kWritebackCache = 1u << 16;
  if (out->flags & kWritebackCache) return;
  out->flags |= kInitExt;
  out->flags2 |= kPassthroughFlag2;
  out->max_stack_depth = 1;  // backing files live on a plain filesystem
  modes.set_negotiated();
}

void patch_open(iovec* iov, int count) {
  auto* out = static_cast<OpenOut*>(tail(iov, count, sizeof(OpenOut)));
  if (!out || out->fh != t_mark_fh) return;
  out->open_flags = (out->open_flags & ~kFopenKeepCache) | kFopenPassthrough;
  out->backing_id = t_mark_id;
}

ssize_t hook_writev(int fd, iovec* iov, int count, void* userdata) {
  if (count >= 1 && iov[0].iov_len >= sizeof(OutHeader)) {
    OutHeader h;
    std::memcpy(&h, iov[0].iov_base, sizeof h);
    if (h.error == 0 && t_init_unique != 0 && h.unique == t_init_unique)
      patch_init(iov, count, g_modes_of.load()(userdata));
    if (h.error == 0 && t_mark_fh != 0) patch_open(iov, count);
  }
  t_init_unique = 0;
  t_mark_fh = 0;
  return ::writev(fd, iov, count);
}

// Provided so that libfuse keeps splicing the reads it still serves.
ssize_t hook_splice(int fdin, off_t* offin, int fdout, off_t* offout, size_t len, unsigned int flags,
                    void*) {
  return ::splice(fdin, offin, fdout, offout, len, flags);
}

}  // namespace

void install(fuse_session* se, ModesOf modes_of) {
  g_modes_of = modes_of;
  fuse_custom_io io{};
  io.read = hook_read;
  io.writev = hook_writev;
  io.splice_send = hook_splice;
  io.splice_receive = hook_splice;
  // Same fd: this only routes libfuse's reads and writes through the hooks.
  fuse_session_custom_io(se, &io, fuse_session_fd(se));
}

void mark_reply(uint64_t fh, int backing_id) {
  t_mark_fh = fh;
  t_mark_id = backing_id;
}

IoModes::~IoModes() { clear(); }

void IoModes::close_id(NodeIo& n) {
  if (n.backing_id > 0 && se_) {
    uint32_t id = static_cast<uint32_t>(n.backing_id);
    ::ioctl(fuse_session_fd(se_), kIocBackingClose, &id);
  }
  n.backing_id = 0;
}

IoModes::Open IoModes::open(fuse_ino_t node, int fd, bool writable, bool created) {
  std::lock_guard lock(mu_);
  NodeIo& n = nodes_[node];
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) n.mode = Mode::cached;
  if (n.mode == Mode::undecided) {
    // Small files through the page cache: read once, they stay there, while
    // every passthrough read makes the kernel ask for the attributes again
    // (it drops the cached atime). Big ones, and new files (build outputs),
    // through passthrough. A node keeps its mode until it is forgotten, so
    // the page cache never holds what a passthrough write bypassed.
    bool big = created || st.st_size >= kPassthroughMinSize;
    n.mode = negotiated_ && se_ && big ? Mode::passthrough : Mode::cached;
  }
  bool same = n.backing_id > 0 && st.st_dev == n.dev && st.st_ino == n.ino;
  if (n.mode == Mode::passthrough && n.passthrough_opens > 0) {
    // The kernel keeps the backing file it was given first while any
    // passthrough open lasts. Since then the view's file may have been
    // replaced by a copy: by the materializer (same bytes: a reader may go
    // on with the old file), or by a copy-up (a writer must not).
    if (!same && (writable || n.changed)) return {0, true};
    ++n.passthrough_opens;
    return {n.backing_id, false};
  }
  if (n.mode == Mode::passthrough && !same) {
    n.changed = false;
    // Registered through a path-only fd of its own: the kernel keeps that
    // open file description for as long as the id lives, and it must not be
    // the handle's, whose close has to drop the flocks taken on it.
    std::string self = "/proc/self/fd/" + std::to_string(fd);
    int path_fd = ::open(self.c_str(), O_PATH | O_CLOEXEC);
    BackingMap map{path_fd, 0, 0};
    int id = path_fd >= 0 ? ::ioctl(fuse_session_fd(se_), kIocBackingOpen, &map) : -1;
    if (path_fd >= 0) ::close(path_fd);
    if (id > 0) {
      n.backing_id = id;
      n.dev = st.st_dev;
      n.ino = st.st_ino;
    } else {
      // EPERM without CAP_SYS_ADMIN: no passthrough open exists, and none
      // ever put data in this inode's page cache.
      n.mode = Mode::cached;
    }
  }
  if (n.mode == Mode::passthrough) {
    ++n.passthrough_opens;
    return {n.backing_id, false};
  }
  ++n.cached_opens;
  return {0, false};
}

void IoModes::release(fuse_ino_t node, bool passthrough) {
  std::lock_guard lock(mu_);
  auto it = nodes_.find(node);
  if (it == nodes_.end()) return;
  NodeIo& n = it->second;
  if (!passthrough) {
    --n.cached_opens;
  } else if (--n.passthrough_opens == 0) {
    // The last open is gone, and every OPEN answered with this id was counted:
    // nobody can still use it. Kept any longer, it would keep an unlinked
    // file's blocks allocated until the kernel forgets the node.
    close_id(n);
  }
}

void IoModes::content_changed(fuse_ino_t node) {
  std::lock_guard lock(mu_);
  auto it = nodes_.find(node);
  if (it != nodes_.end() && it->second.passthrough_opens > 0) it->second.changed = true;
}

void IoModes::forget(fuse_ino_t node) {
  std::lock_guard lock(mu_);
  auto it = nodes_.find(node);
  if (it == nodes_.end()) return;
  close_id(it->second);
  nodes_.erase(it);
}

void IoModes::clear() {
  std::lock_guard lock(mu_);
  nodes_.clear();
}

}  // namespace seedfs::fs::passthrough
