// Tells the view when the root changes a name the kernel may have cached.
//
// The kernel keeps the view's names and attributes for an hour. When the root
// replaces or rewrites an entry after T0 (seeding/instant.hpp), a name the
// kernel looked up before still says "exists, this size, this mtime" until
// something opens it: a build in the workspace that only stats it (cargo's
// freshness check of a unit's outputs) would take a library that is gone for
// present. So the directories of the root that the view has shown entries of
// are watched with inotify (read only: nothing in the root changes), and
// every change of one of their entries is passed on at once, for the view to
// drop the kernel's entry.
#pragma once

#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "seeding/sys.hpp"

namespace seedfs::fs {

class RootWatch {
 public:
  // `changed(dir, name)`: entry `name` of the root's directory `dir` (relative
  // to the artifact dir) was created, written, replaced, removed, or its
  // attributes changed. Called on the watch's own thread.
  using Changed = std::function<void(const std::string& dir, const std::string& name)>;
  RootWatch(int lower_fd, Changed changed);
  ~RootWatch();
  RootWatch(const RootWatch&) = delete;
  RootWatch& operator=(const RootWatch&) = delete;

  // Watches the root's directory `rel` from now on (again: nothing). False
  // when it cannot be watched (no inotify, the user's watch limit reached).
  bool watch(const std::string& rel);
  size_t watched() const;

 private:
  void loop();

  int lower_fd_;
  Changed changed_;
  sys::UniqueFd inotify_, wake_;
  mutable std::mutex mu_;
  std::unordered_map<int, std::string> dirs_;  // watch descriptor -> dir
  std::unordered_set<std::string> watched_;
  bool warned_ = false;
  std::thread thread_;
};

}  // namespace seedfs::fs
