// The FUSE view over the workspace dir (libfuse3 low-level API): the merged
// lookup and readdir, reads from whichever layer holds a file, and every
// change made in the workspace dir — materializing the path first and copying
// up a file that shares the root's inode, so that the root is never written.
#pragma once

#include <fuse_lowlevel.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <memory>
#include <unordered_map>
#include <unordered_set>

#include "fs/coordinator.hpp"
#include "fs/layers.hpp"
#include "fs/nodes.hpp"
#include "fs/passthrough.hpp"
#include "fs/root_watch.hpp"

namespace seedfs::fs {

struct Listing;  // a directory listing being read (overlay.cpp)

struct Overlay {
  Overlay(Layers& l, Coordinator& c) : layers(l), coord(c) {}

  // The operations table for fuse_session_new, with an Overlay* as userdata.
  static const fuse_lowlevel_ops& operations();

  Layers& layers;
  Coordinator& coord;
  NodeTable nodes;
  // Every change to the view passes through the view, so the kernel may cache
  // names and attributes for long (see README: what would break this).
  double timeout = 3600;
  fuse_session* session = nullptr;   // once mounted: for invalidations (see op_link)
  passthrough::IoModes io{session};  // how each node's open files are served
  std::atomic<int> open_handles{0};  // open files; the mount waits for 0
  std::atomic<uint64_t> reads{0};    // READs served (none for passthrough files)
  std::function<void()> on_idle;     // called when open_handles drops to 0

  // Closes the handles whose RELEASE never came: when the last user of a lazily
  // unmounted view lets go, the kernel drops the connection with releases still
  // queued. Their backing fds would otherwise keep flocks held. Call once the
  // session has ended.
  void close_orphaned_handles();

  // The handles the kernel has open (see close_orphaned_handles).
  std::mutex handles_mu;
  std::unordered_set<void*> file_handles;
  // The root's directories whose entries the kernel was shown (fs/root_watch.hpp).
  std::unique_ptr<RootWatch> watch;
  // The root changed entry `name` of its dir `dir`: if the kernel holds that
  // name as the root's entry and it no longer is what it was at T0, or the
  // inode looked up, the kernel's entry is dropped (from RootWatch's thread).
  void root_changed(const std::string& dir, const std::string& name);

  // Directory listings being read, by node (see overlay.cpp, "directories").
  std::mutex listings_mu;
  std::unordered_map<fuse_ino_t, std::shared_ptr<Listing>> listings;
};

}  // namespace seedfs::fs
