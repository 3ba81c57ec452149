// FUSE passthrough (Linux >= 6.9, CONFIG_FUSE_PASSTHROUGH): for a file opened
// through the view, the kernel reads, writes and maps the backing file itself.
// No READ or WRITE reaches the daemon and the data is cached once, in the
// backing file's page cache, instead of twice. It needs CAP_SYS_ADMIN.
//
// libfuse 3.14 (Debian 12) predates passthrough, so the daemon negotiates it
// beneath libfuse, in the session's io hooks (fuse_session_custom_io): the
// INIT reply gains the FUSE_PASSTHROUGH flag, and the reply to an OPEN or
// CREATE that the view marked gains FOPEN_PASSTHROUGH and a backing id.
//
// Small files stay with the page cache (see IoModes::open); the others, and
// every new file, get passthrough.
//
// The kernel binds a file's inode to one backing file while any passthrough
// open of it exists, and refuses to mix passthrough and page-cache opens of
// one inode (the open fails with EIO). `IoModes` mirrors that per node, so the
// view never asks for what the kernel would refuse.
#pragma once

#include <fuse_lowlevel.h>
#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <unordered_map>

namespace seedfs::fs::passthrough {

class IoModes;

// Puts the io hooks on a mounted session; call before it serves. They find
// the session's IoModes through its userdata.
using ModesOf = IoModes& (*)(void* userdata);
void install(fuse_session* se, ModesOf modes_of);

// The next OPEN or CREATE reply this thread sends, for handle `fh`, opens in
// passthrough mode on `backing_id`. Call right before fuse_reply_open/create.
void mark_reply(uint64_t fh, int backing_id);

// One session's side of passthrough: whether it was negotiated, and each
// node's open files.
class IoModes {
 public:
  explicit IoModes(fuse_session*& se) : se_(se) {}
  ~IoModes();
  IoModes(const IoModes&) = delete;
  IoModes& operator=(const IoModes&) = delete;

  // Offer passthrough in INIT (if the kernel does). Set before the session serves.
  void want(bool on) { wanted_ = on; }
  bool wanted() const { return wanted_; }
  // The kernel was offered passthrough in INIT (known once it is answered).
  bool negotiated() const { return negotiated_; }
  void set_negotiated() { negotiated_ = true; }

  // How an open of `node` on the backing file `fd` goes.
  struct Open {
    int backing_id = 0;     // > 0: passthrough on it; 0: through the page cache
    bool conflict = false;  // the node's inode is bound to another backing file
  };
  // `created`: the file is new (CREATE).
  Open open(fuse_ino_t node, int fd, bool writable, bool created);
  // The node's file was truncated through its path: a file the kernel is
  // still bound to may now hold other bytes than the node's.
  void content_changed(fuse_ino_t node);
  // The kernel released an open that `open` counted.
  void release(fuse_ino_t node, bool passthrough);
  // The kernel forgot the node.
  void forget(fuse_ino_t node);
  // The connection is gone: forget every count (its ids went with it).
  void clear();

 private:
  static constexpr off_t kPassthroughMinSize = 64 * 1024;
  enum class Mode { undecided, cached, passthrough };
  struct NodeIo {
    Mode mode = Mode::undecided;  // decided at the node's first open, kept until FORGET
    int backing_id = 0;  // registered for (dev, ino) while passthrough opens last
    dev_t dev = 0;
    ino_t ino = 0;
    int passthrough_opens = 0;
    int cached_opens = 0;
    bool changed = false;  // see content_changed
  };
  void close_id(NodeIo& n);

  fuse_session*& se_;
  bool wanted_ = false;
  std::atomic<bool> negotiated_{false};
  std::mutex mu_;
  std::unordered_map<fuse_ino_t, NodeIo> nodes_;
};

}  // namespace seedfs::fs::passthrough
