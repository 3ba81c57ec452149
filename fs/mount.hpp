// The mount's lifecycle: mounting a FUSE session, serving it from a thread
// pool, and taking it away — plainly when nothing uses it, lazily when an
// open file or a working directory keeps it busy, in which case the session
// keeps serving until the kernel lets go (a daemon that left early would
// leave those processes with ENOTCONN). Also: finding and clearing the dead
// mount a killed daemon leaves behind.
#pragma once

#include <fuse_lowlevel.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <thread>

namespace seedfs::fs {

class Session {
 public:
  Session() = default;
  ~Session();  // unmounts (lazily if busy) if still mounted, and joins the loop
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Mounts `ops` over `mountpoint`; the view is live when this returns.
  // `fsname` shows in the mount table (fuse.seedfs).
  std::error_code mount(const std::string& mountpoint, const fuse_lowlevel_ops& ops,
                        void* userdata, const std::string& fsname);
  // Serves requests on up to `max_threads` threads (a blocking flock holds
  // one), started as the load needs them, until the kernel ends the connection.
  void serve(unsigned max_threads);
  // Takes the mount out of the namespace. `lazy` tells whether it was busy.
  std::error_code unmount(bool& lazy);
  // Until the kernel closed the connection and the loop ended.
  bool wait_for(std::chrono::milliseconds timeout);
  bool ended() const { return ended_; }
  fuse_session* session() const { return se_; }
  bool mounted() const { return mounted_; }

 private:
  void work();           // one worker: receive, process, until the connection ends
  void join_workers();

  fuse_session* se_ = nullptr;
  std::thread loop_;
  unsigned max_threads_ = 1;
  unsigned idle_ = 0;                // workers waiting for a request (under mu_)
  std::list<std::thread> workers_;  // all but the loop_ thread's own (under mu_)
  std::string mountpoint_;
  std::atomic<bool> mounted_{false};
  std::atomic<bool> ended_{false};
  std::mutex mu_;
  std::condition_variable cv_;
};

// What /proc/self/mountinfo says is mounted exactly at `path` (the top-most mount).
struct MountEntry {
  std::string mountpoint;
  std::string fstype;  // "fuse.seedfs" for ours
  std::string source;
};
std::optional<MountEntry> mount_at(const std::string& path);

// True when `path` is a FUSE mount whose daemon is gone (ENOTCONN).
bool is_dead_mount(const std::string& path);

// Detaches whatever is mounted at `path`, lazily (a dead mount cannot answer).
std::error_code detach_mount(const std::string& path);

// /dev/fuse usable? Returns a message naming the fix when it is not.
std::optional<std::string> fuse_unavailable();

}  // namespace seedfs::fs
